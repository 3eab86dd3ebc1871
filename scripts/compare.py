"""Compare the agents, with statistics: `python scripts/compare.py --help` lists every flag.

    python scripts/compare.py                                  # the default: the easy baseline
    python scripts/compare.py --agents feedforward feedback --envs CuedBerry-v1 --seeds 5 --out runs/cmp
    python scripts/compare.py --scale full --shard 0/8 --out runs/full-0     # one of 8 GPU jobs
    python scripts/compare.py --merge runs/full-0 ... runs/full-7 --out runs/full
    python scripts/compare.py --from runs/compare/runs --out runs/again      # evaluate trained runs
    python scripts/compare.py --jobs 2                         # two groups at once: both cores of this CPU
    python scripts/compare.py --launcher ray --out /shared/runs/cmp           # Ray tasks (pip install -e .[ray])
    python scripts/compare.py --human runs/play                # beside the references: your watch.py --play episodes

Run again with the same flags to resume an interrupted compare: finished cells are not redone.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.device import DeviceError  # noqa: E402
from common.files import os_error_text  # noqa: E402
from compare.cli import parse_args  # noqa: E402
from compare.grid import CompareError, Plan  # noqa: E402
from compare.references import import_play_records, load_play_records  # noqa: E402
from compare import report  # noqa: E402
from compare.store import PLAN_FILE, read_json  # noqa: E402
from compare.report import incomplete_line, power_line  # noqa: E402
from compare.run import run_compare  # noqa: E402
from common.flags import quiet_thread_errors, safe_streams  # noqa: E402
from training.memory import out_of_memory, out_of_memory_message  # noqa: E402


def main() -> int:
    safe_streams()
    quiet_thread_errors()
    try:
        args = parse_args(sys.argv[1:])
        # --human: the records are checked before any work; they go into OUT before the report is written
        # (after a new compare has made OUT, with a second report)
        later = args.human is not None and not args.merge and load_play_records(args.human) is not None
        if later and os.path.isfile(os.path.join(args.out, PLAN_FILE)):
            import_play_records(args.human, args.out)
            later = False
        path = run_compare(args)
        if later:
            import_play_records(args.human, args.out)
            path = report.write_report(args.out, Plan.from_dict(read_json(os.path.join(args.out, PLAN_FILE))))
    except (CompareError, DeviceError) as exc:
        print(f"compare.py: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder that cannot be made: finished cells are saved
        print(f"compare.py: error: {os_error_text(exc)} (finished cells are saved; run the same command again once "
              f"it is fixed)", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        print(f"compare.py: error: {out_of_memory_message(exc)} (finished cells are saved)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("compare.py: interrupted; finished cells are saved. Run the same command again to resume.",
              file=sys.stderr)
        return 130
    print(f"Report: {path}")
    print(f"Power: {power_line(os.path.dirname(path))}")
    incomplete = incomplete_line(os.path.dirname(path))
    if incomplete:
        print(incomplete)
    return 0


if __name__ == "__main__":
    sys.exit(main())
