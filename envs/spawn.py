"""Where v1's berries grow: on a grid of cells a little wider than a berry, each growing slot in a free cell
of its own, outside every forager's exclusion zone (`grid_positions`). The arena core (`envs.arena`) calls it;
v0's uniform positions stay there.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from envs.config import WorldConfig, berry_grid, exclusion_stencil

ORDERS = 1024  # the fixed random orders of the grid's cells that v1's spawn draws from, per kind of world
_tables: dict = {}  # (grid, stencil, length, device) -> SpawnTables: made once per kind of world and device


class SpawnTables(NamedTuple):
    """v1's constant spawn tables on one device. Cells are indexed on the grid padded by `pad` cells on every
    side (width W = cells + 2 pad), so a forager's stencil never leaves the table: cell (i, j) is
    (i + pad) + W (j + pad), and index 0, a padding cell, is where absent berries point."""

    orders: torch.Tensor  # (ORDERS, L) padded indices: the first L cells of random permutations of the grid's
    stencil: torch.Tensor  # (S,) padded-index offsets of the cells a forager closes around its own
    pad: int
    width: int


def grid_tables(config: WorldConfig, foragers: int, device: torch.device) -> SpawnTables:
    """The tables of `config`'s worlds: ORDERS permutations drawn once from a seed fixed by the grid, so the same
    on every device and batch size, cut to their first L = M * S + 2K cells (at most M * S + K cells are ever
    closed, by the foragers' stencils and the staying berries, so the first L of any order hold a free cell for
    each of the K slots), and the `exclusion_stencil`. Made on a kind of world's first step, never again."""
    cells = berry_grid(config)[0]
    stencil = exclusion_stencil(config)
    length = min(foragers * len(stencil) + 2 * config.num_berries, cells * cells)
    key = (cells, tuple(stencil), length, str(device))
    if key not in _tables:
        pad = max(max(abs(dx), abs(dy)) for dx, dy in stencil)
        width = cells + 2 * pad
        generator = torch.Generator().manual_seed(cells)
        orders = torch.stack([torch.randperm(cells * cells, generator=generator)[:length] for _ in range(ORDERS)])
        orders = (orders % cells + pad) + width * (orders // cells + pad)
        offsets = torch.tensor([dx + width * dy for dx, dy in stencil], dtype=torch.int64)
        _tables[key] = SpawnTables(orders.to(device), offsets.to(device), pad, width)
    return _tables[key]


def grid_positions(config: WorldConfig, pick_draw: torch.Tensor, jitter: torch.Tensor, foragers: torch.Tensor,
                   growing: torch.Tensor, staying: torch.Tensor, berry_pos: torch.Tensor) -> torch.Tensor:
    """v1 positions (N, K, 2): each growing slot takes its own free cell, at the point `jitter` (N, K, 2) in
    [0, 1) of the cell's inner square; `pick_draw` (N,) in [0, 1) picks each world's order. A cell is free outside every forager's `exclusion_stencil` and where no
    staying berry (`staying` (N, K), at `berry_pos` (N, K, 2)) grew. The free cells are taken in a random
    order, one of `ORDERS` fixed permutations drawn per world and step (`grid_tables`): the r-th growing slot
    takes the r-th free cell, so each takes a free cell at random and none shares one. Fixed shapes, no host
    sync: `check_berry_room` made sure that enough cells are always free."""
    cells, pitch, origin = berry_grid(config)
    n = growing.shape[0]
    tables = grid_tables(config, foragers.shape[1], growing.device)

    def cell_of(pos: torch.Tensor) -> torch.Tensor:  # (..., 2) positions -> (...) padded cell indices
        ij = ((pos - origin) / pitch).floor().long().clamp(0, cells - 1) + tables.pad
        return ij[..., 0] + tables.width * ij[..., 1]

    near = (cell_of(foragers)[:, :, None] + tables.stencil).flatten(1)  # (N, M*S) the foragers' closed cells
    home = cell_of(berry_pos) * staying  # (N, K) the staying berries' cells; 0 (padding) for the others
    closed = torch.zeros(n, tables.width * tables.width, dtype=torch.bool, device=growing.device)
    closed.scatter_(1, torch.cat([near, home], 1), True)
    pick = (pick_draw * ORDERS).long().clamp(max=ORDERS - 1)  # (N,) which order
    order = tables.orders[pick]  # (N, L)
    free = ~closed.gather(1, order)  # (N, L) in that order
    rank = growing.long().cumsum(1).clamp_min(1)  # (N, K) the r-th growing slot wants the r-th free cell
    where = torch.searchsorted(free.long().cumsum(1), rank).clamp(max=order.shape[1] - 1)  # (N, K)
    cell = order.gather(1, where)
    ij = torch.stack([cell % tables.width, cell // tables.width], -1) - tables.pad  # (N, K, 2)
    return origin + ij.to(torch.float32) * pitch + config.berry_radius + jitter * (pitch - 2 * config.berry_radius)
