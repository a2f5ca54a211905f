"""The soak report's chart (GREENH2_SOAK_REPORT runs only; needs matplotlib): RSS and open FDs
of every greenh2 process over time, masters bold, actions as ticks along the bottom (worker
SIGKILLs taller)."""


def chart(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for s in report["samples"]:
        if s["rss"] == 0:  # an exited process not reaped yet
            continue
        key = (s["backend"], s["role"], s["pid"])
        series.setdefault(key, []).append(s)
    fig, (ax_rss, ax_fds) = plt.subplots(2, 1, sharex=True, figsize=(11, 7))
    colors = ["tab:blue", "tab:orange", "tab:green"]
    labelled = set()
    for (backend, role, pid), rows in sorted(series.items(), key=lambda kv: kv[1][0]["t"]):
        t = [r["t"] for r in rows]
        style = dict(color=colors[backend % 3], lw=2.2 if role == "master" else 0.8,
                     alpha=1.0 if role == "master" else 0.6)
        label = None
        if role == "master" and backend not in labelled:  # a restart brings a new master pid
            labelled.add(backend)
            label = "backend %d master (bold; thin: its workers)" % backend
        ax_rss.plot(t, [r["rss"] / 2**20 for r in rows], label=label, **style)
        ax_fds.plot(t, [r["fds"] for r in rows], **style)
    for a in report["actions"]:
        kill = "SIGKILL" in a["action"]
        ax_fds.axvline(a["t"], ymax=0.08 if kill else 0.04, color=colors[a["backend"] % 3],
                       lw=1.6 if kill else 0.8)
    ax_rss.set_ylabel("RSS (MiB)")
    ax_fds.set_ylabel("open FDs")
    ax_fds.set_xlabel("seconds (ticks: chaos actions, by backend colour; tall: worker SIGKILL)")
    ax_rss.legend(loc="upper left", fontsize=8)
    ax_rss.set_title("greenh2 chaos soak, %d s: %d requests/streams/WebSockets, %d lost, %d excused by "
                     "%d worker SIGKILLs;\nWebSocket closes %s" % (
                         report["seconds"], report["requests"], report["lost"],
                         report["excused_by_sigkill"], len(report["kills"]), report["ws_closes"]),
                     fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
