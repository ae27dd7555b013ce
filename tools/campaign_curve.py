"""Where a weights campaign stands: its validation curve from a shipped model card, stage by
stage, and where a log-linear fit of that curve says more iterations would take it.

Issue #10 ends the campaign when the holdout curve has flattened below the targets; this is
the command whose output says how flat, in numbers:

    python tools/campaign_curve.py --name maffsrn_x2 --fit_from 12000 --at 40000,100000,1000000
    python tools/campaign_curve.py --name maffsrn_x2 --reach 32.87,33.0

``--reach`` turns the fit around: the cumulative iterations at which it reaches a holdout
PSNR, and the wall hours that takes at the campaign's own pace so far (its card's
cumulative hours per iteration, on the machine the card names).

The fit, ``psnr = a + b ln(iterations)`` over the best-so-far holdout PSNR of the stages from
``--fit_from`` on, is an extrapolation: it says what the curve's own trend gives, not what
another dataset or schedule would. x3 and x4, fine-tuned from x2 in two stages so far, have
too short a curve of their own for it.
"""

import json
import math
import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
flags.DEFINE_string(
    "name", "maffsrn_x2", "Preset whose card (maffsrn_tf/weights/NAME.json) to read."
)
flags.DEFINE_integer("fit_from", 12000, "Fit the curve from this cumulative iteration on.")
flags.DEFINE_list("at", ["40000", "100000", "1000000"], "Iteration counts to project to.")
flags.DEFINE_list("reach", [], "Holdout PSNRs (dB) to find the fit's iteration counts for.")


def best_so_far(card):
    """``[(cumulative iterations, best holdout PSNR so far, stage)]`` at each validation of
    each stage; a stage starts where the previous one's iterations end."""
    points, start, best = [], 0, -math.inf
    for i, stage in enumerate(card.get("history", []), 1):
        for iterations, psnr in stage.get("curve", []):
            best = max(best, psnr)
            points.append((start + iterations, best, i))
        start += stage["iterations"]
    return points


def stage_gains(card):
    """``[(stage, iterations, best PSNR, gain over the previous stages' best)]``."""
    rows, best = [], None
    for i, stage in enumerate(card.get("history", []), 1):
        value = stage.get("best_val_psnr")
        if value is None:
            continue
        rows.append((i, stage["iterations"], value, None if best is None else value - best))
        best = value if best is None else max(best, value)
    return rows


def log_fit(points, stages):
    """Least-squares ``(a, b)`` of ``psnr = a + b ln(iterations)``; ``stages``: how many
    stages the points come from (a fit within one or two follows a fine-tune's fast start
    or a restart more than the campaign's trend, so three are needed)."""
    if stages < 3:
        raise ValueError(f"the fit needs validations from 3 stages at least, these span {stages}")
    xs = [math.log(x) for x, _ in points]
    ys = [y for _, y in points]
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 2 or sxx == 0:
        raise ValueError("the fit needs validations at two iteration counts at least")
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b


def iterations_to_reach(a, b, psnr):
    """Cumulative iterations at which ``a + b ln(iterations)`` equals ``psnr``; None when the
    fit does not rise."""
    return math.exp((psnr - a) / b) if b > 0 else None


def _positive_numbers(flag, kind, what):
    """The values of list flag ``--flag`` as positive ``kind`` numbers, or one error line."""
    try:
        values = [kind(value) for value in getattr(FLAGS, flag)]
    except ValueError:
        values = [0]
    if min(values, default=1) <= 0:
        sys.exit(f"error: --{flag} takes {what}; got {getattr(FLAGS, flag)}")
    return values


def main(argv):
    del argv
    path = os.path.join(ROOT, "maffsrn_tf", "weights", f"{FLAGS.name}.json")
    if not os.path.exists(path):
        sys.exit(f"error: no model card {path}: pass a shipped preset's name with --name")
    at = _positive_numbers("at", int, "iteration counts, e.g. 40000,100000")
    reach = _positive_numbers("reach", float, "holdout PSNRs in dB, e.g. 32.87,33.0")
    with open(path) as f:
        card = json.load(f)
    done, hours = card.get("cumulative_iterations", 0), card.get("cumulative_wall_hours", 0)
    print(f"{FLAGS.name}: {done:,} cumulative iterations")
    print("stage  iterations  best holdout PSNR  gain (dB)")
    for i, iterations, value, gain in stage_gains(card):
        print(
            f"{i:>5}  {iterations:>10,}  {value:>17.3f}  {'' if gain is None else f'{gain:+.3f}'}"
        )
    points = [p for p in best_so_far(card) if p[0] >= FLAGS.fit_from]
    try:
        a, b = log_fit([p[:2] for p in points], len({p[2] for p in points}))
    except ValueError as err:
        sys.exit(f"error: {err} (lower --fit_from, or train more stages)")
    print(
        f"fit over {len(points)} validations from {FLAGS.fit_from:,} iterations: "
        f"psnr = {a:.3f} + {b:.4f} ln(iterations), {b * math.log(2):+.3f} dB per doubling"
    )
    for iterations in at:
        print(f"  projected at {iterations:>9,} iterations: {a + b * math.log(iterations):.3f} dB")
    for psnr in reach:
        iterations = iterations_to_reach(a, b, psnr)
        if iterations is None:
            print(f"  {psnr:.3f} dB: never by this fit (it does not rise)")
            continue
        line = f"  {psnr:.3f} dB reached at {iterations:>12,.0f} iterations"
        if done and hours and iterations > done:
            more = (iterations - done) * hours / done
            line += f", {iterations - done:,.0f} more: about {more:,.0f} h at this campaign's pace"
            line += f" ({hours * 3600 / done:.2f} s per iteration, {card.get('hardware', '?')})"
        print(line)


if __name__ == "__main__":
    app.run(main)
