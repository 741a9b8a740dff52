import Atomistics
import Foundation

/// Figures drawn with matplotlib in the provisioned Python from the CSV files beside them. Each
/// is written as PNG and SVG, each file atomically (a user may watch a figure while a campaign
/// runs), with the same bytes for the same data (fixed SVG element IDs and no date: a resumed
/// campaign repeats the uninterrupted one), and with its text kept as text in the SVG.
public enum Figures {
    /// Runs `body` after the shared prelude, which defines `request` (the JSON given here, with
    /// `directory`), `folder`, `save(fig, stem)` and `rows(csv_name)`.
    static func draw(_ body: String, in directory: URL, request: [String: Any], python: URL, purpose: String) throws {
        var request = request
        request["directory"] = directory.path
        _ = try ProvisionedPython.run(python, script: prelude + body, input: try JSONSerialization.data(withJSONObject: request),
                                      purpose: purpose)
    }

    static let prelude = #"""
    import csv, json, os, sys
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "implicit-lammps"
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt
    request = json.load(sys.stdin)
    folder = request["directory"]
    def save(fig, stem):
        fig.tight_layout()
        for extension in ("png", "svg"):
            partial = os.path.join(folder, f".{stem}.partial.{extension}")
            fig.savefig(partial, dpi=150, metadata={"Date": None} if extension == "svg" else None)
            os.replace(partial, os.path.join(folder, f"{stem}.{extension}"))
        plt.close(fig)
    def rows(name):
        with open(os.path.join(folder, name)) as handle:
            return list(csv.DictReader(handle))

    """#
}
