"""The report's analyses, one module per question. Each summarises the rows once into data (its
verdicts as `common.Verdict`, never as prose), then renders its section of results.md and its figures
from that data:

- `contrasts`: each mechanism against its matched control; the plan's primary contrasts under Holm's
  correction, the rest exploratory; the power analysis;
- `scores`: every agent in every condition beside the random, scripted and turning-in-place foragers;
- `efficiency`: steps to a threshold, and the learning curves, from the train records;
- `lesions`: is a mechanism used;
- `feature_gain`: do the gains follow the cued colour's tuning; the spatial attention index;
- `set_size`: search time against the number of distractors;
- `passes`: accuracy against T, and whether passes help more in hard worlds;
- `reversal`: the reversal curve and win-stay / lose-shift.

A module has `NAME`, `FIGURES` ({file: caption}), `summarise(ctx)`, `section(data, ctx)` and
`draw(plt, data, ctx)` ({file: figure, or why it was not drawn}); its data has `verdicts`.
"""

from compare.analysis import contrasts, efficiency, feature_gain, lesions, passes, reversal, scores, set_size

ANALYSES = (contrasts, scores, efficiency, lesions, feature_gain, set_size, passes, reversal)  # the report's order
