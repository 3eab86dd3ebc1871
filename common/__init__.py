"""General utilities that every layer may use and none owns: devices (`common.device`), atomic files and
directory locks (`common.files`), command-line flags and output streams (`common.flags`) and video
encoding (`common.video`). Nothing here imports the worlds, agents, trainer, viewer or compare."""
