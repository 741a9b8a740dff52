import Foundation

/// The loss curve of a fit campaign, `loss.png` and `loss.svg` beside its data `history.csv`:
/// predicted and true loss per iteration on a log scale, halved (backtracked) and runaway steps
/// marked, the iterate written as final.* starred; and, when the campaign has property or
/// elastic targets, a second panel with each one's deviation from its goal.
public enum FitLossFigure {
    /// Draws the figure from `directory/history.csv`.
    /// - Parameters:
    ///   - goals: the property columns of the history with the value each aims at and its unit.
    ///   - history: the campaign's records, whose warnings mark the runaway steps (the rule is the
    ///     campaign's own, not repeated here).
    ///   - best: the iteration whose Θ is final.* (nil while the campaign runs).
    public static func draw(in directory: URL, goals: [(name: String, goal: Double, unit: String)], history: [FitRecord],
                            best: Int?, python: URL) throws {
        let request: [String: Any] = [
            "goals": goals.map { ["name": $0.name, "goal": $0.goal, "unit": $0.unit] },
            "best": best.map { $0 as Any } ?? NSNull(),
            "runaway": history.filter { $0.warning != nil }.map(\.iteration),
            "runaway_ratio": FitRecord.runawayRatio,
        ]
        try Figures.draw(script, in: directory, request: request, python: python, purpose: "drawing the loss figure (matplotlib)")
    }

    static let script = #"""
    history = rows("history.csv")
    def value(row, key):
        text = row.get(key, "")
        return float(text) if text not in ("", "nan") else None
    iterations = [int(row["iteration"]) for row in history]
    goals = request["goals"]
    fig, axes = plt.subplots(2 if goals else 1, 1, figsize=(7, 7 if goals else 4.2), sharex=True, squeeze=False)
    ax = axes[0][0]
    def positive(key):
        points = [(i, value(r, key)) for i, r in zip(iterations, history)]
        return [(i, v) for i, v in points if v is not None and v > 0]
    predicted, true = positive("loss_predicted"), positive("loss_relaxed")
    ax.plot([p[0] for p in predicted], [p[1] for p in predicted], marker="o", markersize=3, color="#1f77b4",
            label="predicted (eq. 44 / Taylor)")
    if true:
        ax.plot([p[0] for p in true], [p[1] for p in true], marker="s", markersize=3, color="black",
                label="true (LAMMPS relaxation)")
    halved = [(i, value(r, "loss_relaxed") or value(r, "loss_predicted"), int(r["backtracks"]))
              for i, r in zip(iterations, history) if r.get("backtracks") not in (None, "", "0")]
    if halved:
        ax.scatter([h[0] for h in halved], [h[1] for h in halved], marker="v", s=60, facecolors="none",
                   edgecolors="#ff7f0e", zorder=3, label="step halved (backtrack)")
        for i, v, n in halved:
            ax.annotate(f"×{n}", (i, v), textcoords="offset points", xytext=(4, -12), fontsize=7, color="#ff7f0e")
    runaway = [(i, value(r, "loss_relaxed")) for i, r in zip(iterations, history)
               if i in request["runaway"] and value(r, "loss_relaxed") is not None]
    if runaway:
        ax.scatter([p[0] for p in runaway], [p[1] for p in runaway], marker="x", s=70, color="#d62728", zorder=4,
                   label=f"runaway step (true > {request['runaway_ratio']:g}× predicted, loss rose)")
    best = request["best"]
    if best is not None:
        row = history[iterations.index(best)] if best in iterations else None
        loss = row and (value(row, "loss_relaxed") or value(row, "loss_predicted"))
        if loss and loss > 0:
            ax.scatter([best], [loss], marker="*", s=160, color="#2ca02c", zorder=5, label="best true loss (final.*)")
    ax.set_yscale("log")
    ax.set_ylabel("loss L (Å² for structure terms,\nunit² of each property term)")
    ax.set_title("fit: loss per iteration (data: history.csv)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if goals:
        ax2 = axes[1][0]
        for goal in goals:
            points = [(i, value(r, goal["name"])) for i, r in zip(iterations, history)]
            points = [(i, v) for i, v in points if v is not None]
            scale = abs(goal["goal"]) or 1.0
            unit = f" {goal['unit']}" if goal["unit"] else ""
            ax2.plot([p[0] for p in points], [100 * (p[1] - goal["goal"]) / scale for p in points], marker=".",
                     label=f"{goal['name']} (goal {goal['goal']:g}{unit})")
        ax2.axhline(0, color="black", linewidth=0.8, linestyle="--")
        ax2.set_ylabel("deviation from goal,\n(value − goal)/|goal| (%)")
        ax2.set_title("property and elastic targets against their goals")
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=8)
    axes[-1][0].set_xlabel("iteration (0: the start)")
    axes[-1][0].xaxis.get_major_locator().set_params(integer=True)
    save(fig, "loss")
    """#
}
