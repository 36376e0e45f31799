"""lm-eval's own command line, with the `tbench` model registered first:

    python -m toroidal_bench.integrations.lm_eval_cli --model tbench --model_args spec=random:llama-tiny+alibi --tasks ...

Every argument goes to lm-eval unchanged. The released lm-eval (0.4.13) finds models only in its
own source tree, so plain `lm_eval --model tbench` cannot see this package; this entry does the one
import that registers it and hands over to `lm_eval.__main__.cli_evaluate`.
"""

from __future__ import annotations

import sys

from ..errors import UsageError
from . import require_lm_eval


def main() -> None:
    try:
        require_lm_eval()
        from . import lm_eval_model  # noqa: F401  registers 'tbench'
    except UsageError as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        raise SystemExit(2) from None
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()


if __name__ == "__main__":
    main()
