using System.Globalization;
using System.Text;
using Rlhf.Demo;

namespace Rlhf.Cli.Embedded;

/// <summary>Writes <c>report.md</c> and the PNG plots of a demo run.</summary>
public static class DemoReport
{
    public static void Write(string runDirectory, DemoSettings settings, BootstrapResult bootstrap, IReadOnlyList<VersionRow> rows,
        TrafficStats traffic, EventLog events, TimeSpan elapsed, string reason)
    {
        var inv = CultureInfo.InvariantCulture;
        var report = new StringBuilder();
        report.AppendLine("# rlhf demo report").AppendLine();
        report.AppendLine(inv, $"Run finished {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC after {elapsed.TotalMinutes:F1} min: {reason}.").AppendLine();
        report.AppendLine("## Settings").AppendLine();
        report.AppendLine(inv, $"- target held-out accuracy {settings.TargetAccuracy:P0}, time budget {settings.Budget.TotalMinutes:F0} min, seed {settings.Seed}");
        report.AppendLine(settings.Feedback == DemoFeedback.Thumbs
            ? string.Create(inv, $"- feedback: thumbs only; {settings.Users} simulated users, n = 1 answer per request; {settings.FeedbackShare:P0} of answers get a single thumb, a thumbed-down answer is regenerated once (a regeneration is posted when the new answer is kept); thumbs flipped with probability {settings.LabelNoise:P0}")
            : string.Create(inv, $"- feedback: rankings; {settings.Users} simulated users, n = 4 candidates per request; labelers flip judgements with probability {settings.LabelNoise:P0}"));
        report.AppendLine(settings.LoraRank > 0
            ? string.Create(inv, $"- learner batch {settings.LearnerBatch} rollouts per PPO step; LoRA adapters r = {settings.LoraRank} (alpha {2 * settings.LoraRank}) on every projection, published as adapter blobs")
            : string.Create(inv, $"- learner batch {settings.LearnerBatch} rollouts per PPO step; full fine-tuning, published as full weights"));
        report.AppendLine(inv, $"- bootstrap checkpoint {bootstrap.Directory} ({(bootstrap.Reused ? "reused" : "trained")}, {bootstrap.Report.Parameters / 1e6:F2}M parameters)");
        report.AppendLine(inv, $"- held out: {bootstrap.Split.HeldOut.Count} facts (number pair + operation) never used as RLHF prompts, asked in every phrasing");
        report.AppendLine(inv, $"- release gate: {bootstrap.Split.Gate.Count} facts of their own (neither held out nor asked by the simulated users) in every phrasing, answered near-greedily, judged by the frozen reward model and the arithmetic checker");
        report.AppendLine(settings.Feedback == DemoFeedback.Thumbs
            ? $"- labelers: {settings.Labelers.ToString().ToLowerInvariant()}; their thumbs are the only feedback (and what the canary is judged by)"
            : string.Create(inv, $"- labelers: {settings.Labelers.ToString().ToLowerInvariant()}; users thumb the answer shown on {settings.ThumbsShare:P0} of requests"));
        report.AppendLine(inv, $"- live canary: {(settings.Canary ? "on (half of the users, sticky; promoted or rolled back by their thumbs)" : "off (gate-passing candidates are promoted at once)")}");
        report.AppendLine();
        report.AppendLine("## Per policy version").AppendLine();
        report.AppendLine("| version | replaced | minutes | held-out greedy acc | change vs replaced | held-out sampled acc | KL to reference | mean RM score | RM version | RM held-out pair acc | feedback so far |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        var byVersion = rows.ToDictionary(r => r.Version);
        foreach (var row in rows)
        {
            var change = row.ReplacedVersion is long replaced && byVersion.TryGetValue(replaced, out var before)
                ? (row.GreedyAccuracy - before.GreedyAccuracy) * 100
                : (double?)null;
            report.AppendLine(inv,
                $"| {row.Version} | {row.ReplacedVersion?.ToString(inv) ?? "-"} | {row.Minutes:F1} | {row.GreedyAccuracy:P1} | {(change is double c ? c.ToString("+0.0;-0.0", inv) + " pt" : "-")} | " +
                $"{row.SampledAccuracy:P1} | {Format(row.Kl, "F3")} | {Format(row.MeanReward, "F3")} | " +
                $"{row.RewardModelVersion?.ToString(inv) ?? "-"} | {Format(row.RewardModelAccuracy, "P1")} | {row.FeedbackAccepted} |");
        }

        var regressions = rows.Skip(1).Where(r => r.ReplacedVersion is long v && byVersion.ContainsKey(v))
            .Select(r => (r.GreedyAccuracy - byVersion[r.ReplacedVersion!.Value].GreedyAccuracy) * 100).ToList();
        report.AppendLine().AppendLine(inv, $"Worst change of a promoted version against the champion it replaced: " +
            $"{(regressions.Count == 0 ? "-" : regressions.Min().ToString("+0.0;-0.0", inv) + " points")} of held-out greedy accuracy; " +
            $"lowest champion {rows.Min(r => r.GreedyAccuracy):P1} (bootstrap {rows[0].GreedyAccuracy:P1}).");

        report.AppendLine().AppendLine("## Final numbers").AppendLine();
        report.AppendLine(inv, $"- held-out greedy accuracy: {rows[0].GreedyAccuracy:P1} -> {rows[^1].GreedyAccuracy:P1}");
        report.AppendLine(inv, $"- chat requests {traffic.Requests} (failed {traffic.Failures}), feedback accepted {traffic.FeedbackAccepted} (rejected {traffic.FeedbackRejected})");
        if (settings.Feedback == DemoFeedback.Thumbs)
            report.AppendLine(inv, $"- judgements: {traffic.Thumbs} single thumbs and {traffic.Regenerations} regenerations");
        report.AppendLine(inv, $"- share of served candidates that were correct: {(traffic.Candidates > 0 ? (double)traffic.CorrectCandidates / traffic.Candidates : 0):P1}");
        report.AppendLine(inv, $"- rollouts {events.Rollouts}, scored {events.Scored}, policy versions {events.Policies.Count}, rejected {events.Rejected.Count}, reward models {events.RewardModels.Count} (rejected {events.RewardModelsRejected.Count})");
        report.AppendLine(inv, $"- canaries started {events.CanariesStarted.Count}, promoted {events.CanariesConcluded.Count(c => c.Outcome == Contracts.CanaryOutcome.Promoted)}, " +
            $"rolled back {events.CanariesConcluded.Count(c => c.Outcome == Contracts.CanaryOutcome.RolledBack)}; answers served by a canary {traffic.CanaryAnswers}; user thumbs {traffic.UserThumbs}");
        report.AppendLine(inv, $"- reward-hacking alarm: {(events.Alarms.IsEmpty ? "not raised" : $"RAISED {events.Alarms.Count} time(s)")}");
        if (!events.Alarms.IsEmpty)
        {
            report.AppendLine().AppendLine("## Reward-hacking alarm").AppendLine();
            foreach (var alarm in events.Alarms)
                report.AppendLine(inv, $"- {alarm.RaisedAt:HH:mm:ss} (champion {alarm.PolicyVersion}): {alarm.Reason}; policy promotion paused");
        }

        if (!events.CanariesConcluded.IsEmpty || !events.CanariesStarted.IsEmpty)
        {
            report.AppendLine().AppendLine("## Canaries").AppendLine();
            report.AppendLine("| candidate | champion | outcome | canary thumbs-up | champion thumbs-up | why |");
            report.AppendLine("|---|---|---|---|---|---|");
            var concluded = events.CanariesConcluded.GroupBy(c => c.CandidateVersion).ToDictionary(g => g.Key, g => g.Last());
            foreach (var started in events.CanariesStarted)
            {
                if (concluded.TryGetValue(started.CandidateVersion, out var c))
                    report.AppendLine(inv, $"| {c.CandidateVersion} | {c.ChampionVersion} | {c.Outcome} | {Format(c.Candidate.MeanScore, "P1")} of {c.Candidate.Judgements} | " +
                        $"{Format(c.Champion.MeanScore, "P1")} of {c.Champion.Judgements} | {c.Reason} |");
                else
                    report.AppendLine(inv, $"| {started.CandidateVersion} | {started.ChampionVersion} | still live at the end | - | - | - |");
            }
        }

        if (!events.RewardModelsRejected.IsEmpty)
        {
            report.AppendLine().AppendLine("## Reward models the reward gate rejected").AppendLine();
            foreach (var rejected in events.RewardModelsRejected)
                report.AppendLine(inv, $"- RM candidate {rejected.CandidateVersion} (champion {rejected.ChampionVersion}): {rejected.Reason}");
        }
        if (!events.Rejected.IsEmpty)
        {
            report.AppendLine().AppendLine("## Candidates the release gate rejected").AppendLine();
            foreach (var rejected in events.Rejected)
                report.AppendLine(inv, $"- candidate {rejected.CandidateVersion} (champion {rejected.ChampionVersion?.ToString(inv) ?? "-"}): {rejected.Reason}");
        }

        report.AppendLine().AppendLine("A rising RM score with flat held-out accuracy would be reward hacking; both are in the table.").AppendLine();
        report.AppendLine("Plots: `accuracy.png`, `reward.png`, `kl.png`, `rm_accuracy.png`. Event log: `events.jsonl`. Service log: `services.log`.");
        File.WriteAllText(Path.Combine(runDirectory, "report.md"), report.ToString());

        var minutes = rows.Select(r => r.Minutes).ToArray();
        Plot(runDirectory, "accuracy.png", "Held-out accuracy", "accuracy",
            ("greedy", minutes, rows.Select(r => r.GreedyAccuracy).ToArray()), ("sampled", minutes, rows.Select(r => r.SampledAccuracy).ToArray()));
        Plot(runDirectory, "reward.png", "Mean RM score of trained rollouts", "score", Series("mean RM score", rows, r => r.MeanReward));
        Plot(runDirectory, "kl.png", "KL to the SFT reference", "nats", Series("KL", rows, r => r.Kl));
        var rm = events.RewardModels.Where(r => r.HeldOutPairwiseAccuracy is not null).ToList();
        Plot(runDirectory, "rm_accuracy.png", "Reward model held-out pairwise accuracy", "accuracy",
            ("RM", rm.Select(r => (double)r.RewardModelVersion).ToArray(), rm.Select(r => r.HeldOutPairwiseAccuracy!.Value).ToArray()));
    }

    static (string, double[], double[]) Series(string name, IReadOnlyList<VersionRow> rows, Func<VersionRow, double?> value)
    {
        var points = rows.Where(r => value(r) is double v && double.IsFinite(v)).ToList();
        return (name, points.Select(r => r.Minutes).ToArray(), points.Select(r => value(r)!.Value).ToArray());
    }

    static string Format(double? value, string format) =>
        value is double v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

    static void Plot(string directory, string file, string title, string yLabel, params (string Name, double[] X, double[] Y)[] series)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, x, y) in series.Where(s => s.X.Length > 0))
        {
            var scatter = plot.Add.Scatter(x, y);
            scatter.LegendText = name;
        }

        plot.Title(title);
        plot.XLabel(file == "rm_accuracy.png" ? "reward model version" : "minutes");
        plot.YLabel(yLabel);
        plot.ShowLegend();
        plot.SavePng(Path.Combine(directory, file), 640, 400);
    }
}
