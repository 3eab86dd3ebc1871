"""The one recorder: uint8 (H, W, 3) frames to an animated GIF (pillow) or an MP4 (H.264 through ffmpeg).

TensorBoard's eval videos (`training.summaries.add_gif`) and ``watch.py --record`` both write here.
MP4 needs an ffmpeg binary: the one the optional ``[mp4]`` extra installs (imageio-ffmpeg ships a
static build, ~165 MB, so it is not a base dependency), else ``ffmpeg`` on PATH.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from typing import Optional, Sequence

import numpy as np
from PIL import Image


class VideoError(RuntimeError):
    """An MP4 could not be written; the message says why and what works instead."""


def encode_gif(frames: Sequence[np.ndarray], fps: float = 20.0) -> bytes:
    """An animated GIF (looping) of uint8 (H, W, 3) frames."""
    writer = GifWriter(None, fps)
    for frame in frames:
        writer.add(frame)
    return writer.encode()


def ffmpeg_binary() -> Optional[str]:
    """The ffmpeg to encode MP4 with: imageio-ffmpeg's (the [mp4] extra), else ffmpeg on PATH, else None."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return shutil.which("ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


MP4_HINT = "pip install -e .[mp4] (a static ffmpeg), or put ffmpeg on PATH"


class GifWriter:
    """Frames to an animated, looping GIF at ``path`` (or to bytes, `encode`), written when closed."""

    def __init__(self, path: Optional[str], fps: float):
        self.path, self.fps = path, fps
        self.frames: list[Image.Image] = []

    def add(self, frame: np.ndarray) -> None:
        # Each frame gets its own 256-colour palette now, so only 1 byte per pixel is kept.
        image = Image.fromarray(np.ascontiguousarray(frame))
        self.frames.append(image.quantize(256, method=Image.Quantize.FASTOCTREE))

    def encode(self) -> bytes:
        if not self.frames:
            raise ValueError("frames: got none; allowed: at least one (H, W, 3) uint8 frame")
        buffer = io.BytesIO()
        self.frames[0].save(buffer, format="GIF", save_all=True, append_images=self.frames[1:],
                            duration=max(20, int(round(1000 / self.fps))), loop=0)
        return buffer.getvalue()

    def close(self) -> None:
        with open(self.path, "wb") as f:
            f.write(self.encode())

    def discard(self) -> None:
        self.frames = []


class Mp4Writer:
    """Frames piped to ffmpeg (H.264, yuv420p) writing ``path``; ``name`` is the file the user asked for."""

    def __init__(self, path: str, fps: float, name: str):
        self.path, self.fps, self.name = path, fps, name
        self.binary = ffmpeg_binary()
        if self.binary is None:
            raise VideoError(f"writing {name!r} needs ffmpeg, which is not installed; {MP4_HINT}; or write a .gif")
        self.process: Optional[subprocess.Popen] = None

    def add(self, frame: np.ndarray) -> None:
        if self.process is None:
            height, width = frame.shape[:2]
            self.process = subprocess.Popen(
                [self.binary, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                 "-s", f"{width}x{height}", "-r", f"{self.fps:g}", "-i", "-",
                 "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-f", "mp4", self.path],
                stdin=subprocess.PIPE)
        try:
            self.process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self._failed()

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            self._failed()
        if self.process.wait() != 0:
            self._failed()

    def _failed(self) -> None:
        raise VideoError(f"ffmpeg failed to write {self.name!r} (exit code {self.process.wait()}); its message is "
                         f"above; allowed: a .gif file, which needs no encoder")

    def discard(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def writer_for(path: str, fps: float, name: Optional[str] = None):
    """A GifWriter or Mp4Writer by ``name``'s (or ``path``'s) extension."""
    name = name or path
    return GifWriter(path, fps) if name.lower().endswith(".gif") else Mp4Writer(path, fps, name)
