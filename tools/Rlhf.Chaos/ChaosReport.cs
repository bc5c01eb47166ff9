using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Rlhf.Chaos;

/// <summary>The run's tables on the console, <c>report.md</c> and <c>chaos.json</c> in the run folder.</summary>
public static class ChaosReport
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static void Write(ChaosResult result, TextWriter output)
    {
        var tables = Tables(result);
        output.WriteLine();
        output.Write(tables);
        output.WriteLine(result.Verdict);
        output.WriteLine($"report: {Path.Combine(result.RunDirectory, "report.md")}");

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"# rlhf chaos: {Path.GetFileName(result.RunDirectory)}");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"**{result.Verdict}** (exit code {result.ExitCode})");
        report.AppendLine();
        var s = result.Settings;
        report.AppendLine(CultureInfo.InvariantCulture,
            $"{s.Feedback} feedback submissions from {s.Clients} clients, faults {string.Join(", ", s.Faults.Select(Faults.Name))}, seed {s.Seed}; " +
            $"RabbitMQ on :{s.RabbitMqPort} (stopped {s.RabbitMqDownSeconds} s per restart), Redis on :{s.RedisPort} (stopped {s.RedisDownSeconds} s), " +
            $"processes restarted {s.ProcessRestartDelay:0.#} s after kill -9; {result.Seconds:F0} s in all.");
        report.AppendLine();
        report.Append(tables);
        report.AppendLine();
        AppendDetails(report, result);
        File.WriteAllText(Path.Combine(result.RunDirectory, "report.md"), report.ToString());
        File.WriteAllText(Path.Combine(result.RunDirectory, "chaos.json"), JsonSerializer.Serialize(Document(result), Json));
    }

    static string Tables(ChaosResult result)
    {
        var text = new StringBuilder();
        var c = result.Check;
        text.AppendLine("Check (total-queue, over the reward service's training journal):");
        text.AppendLine();
        text.AppendLine("| acknowledged (202) | received | lost | duplicated | duplicates absorbed | unacknowledged but present | journal entries |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        text.AppendLine(c is null
            ? "| - | - | - | - | - | - | - |"
            : string.Create(CultureInfo.InvariantCulture, $"| {c.Acknowledged} | {c.Received} | {c.Lost.Count} | {c.Duplicated.Count} | {result.DuplicatesAbsorbed} " +
                        $"({result.Counters.ReplayedAccepts} replayed 202s + {result.RewardDuplicates} at the reward service) | {c.UnacknowledgedPresent} | {c.Entries} |"));
        text.AppendLine();
        text.AppendLine("Faults (seconds from the fault's start):");
        text.AppendLine();
        text.AppendLine("| fault | at submission | began at (s) | down for (s) | ready (200) after | all checks healthy after | first 202 after | journal growing again after |");
        text.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var f in result.Faults)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, 
                $"| {Faults.Name(f.Fault)} | {f.AtSubmission} | {f.StartedAt:F1} | {Span(f.DownAt, f.BackAt)} | {After(f, f.ReadyAt)} | {After(f, f.HealthyAt)} | " +
                $"{After(f, f.FirstAcceptAt)} | {After(f, f.JournalResumedAt)} |"));
        }

        text.AppendLine();
        var n = result.Counters;
        text.AppendLine(string.Create(CultureInfo.InvariantCulture, 
            $"Clients: {result.Submissions.Count(x => x.Outcome == "accepted")} accepted, {result.Submissions.Count(x => x.Outcome == "rejected")} rejected, " +
            $"{result.Submissions.Count(x => x.Outcome == "gave-up")} gave up; {n.FeedbackAttempts} attempts ({n.Unavailable503} x 503, " +
            $"{n.InProgress409} x 409 in progress, {n.OtherServerErrors} x other 5xx, {n.ConnectionErrors} connection errors, {n.Timeouts} timeouts); " +
            $"{n.Resends} deliberate resends of accepted submissions ({n.ResendsSameId} got 202 with the same id, {n.ResendsOtherId} another id, " +
            $"{n.ResendsWithout202} no 202 within {FeedbackClients.ResendTimeout.TotalSeconds:0} s); " +
            $"{n.ChatRequests} chat requests ({n.ChatFailures} failed)."));
        if (result.RewardStatus is { } status)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"Reward service after the drain: journal_length {status["journal_length"]?.ToJsonString() ?? "-"}, trained_through " +
                $"{status["trained_through"]?.ToJsonString() ?? "-"} (RM version {status["reward_model_version"]?.ToJsonString() ?? "-"}), " +
                $"duplicates {result.RewardDuplicates} (counted since its last start)."));
        if (result.DrainSeconds is { } drain)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Drain: every acknowledged id was in the journal {drain:F1} s after the last submission settled."));
        else if (result.Check is not null)
            text.AppendLine("Drain: not every acknowledged id reached the journal within the drain timeout.");
        text.AppendLine();
        return text.ToString();
    }

    static void AppendDetails(StringBuilder report, ChaosResult result)
    {
        if (result.Check is { } check)
        {
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, 
                $"Journal: {check.Entries} entries, {check.Unreadable} without a readable feedback id, {check.SeqMismatches} whose seq is not their " +
                $"position, {check.KindMismatches} acknowledged ids journaled as another kind."));
            foreach (var id in check.Lost)
            {
                var s = result.Submissions.First(x => x.FeedbackId == id);
                report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- lost {id}: {s.Kind} #{s.Index}, accepted at {s.AcceptedAt:F1} s after {s.Attempts} attempt(s)"));
            }

            foreach (var (id, count) in check.Duplicated)
                report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- duplicated {id}: {count} entries"));
            report.AppendLine();
        }

        if (result.RewardStatus is { } status)
            report.AppendLine($"Reward service status after the drain: `{status.ToJsonString()}`").AppendLine();
        report.AppendLine(result.DeadLetters.Count == 0
            ? "Dead-letter queues (`*_error`, `*_skipped`): all empty."
            : $"Dead-letter queues: {string.Join(", ", result.DeadLetters.Select(d => $"{d.Key} {d.Value}"))}.");
        report.AppendLine();
        report.AppendLine(result.UnexpectedExits.Count == 0
            ? "No service process exited on its own."
            : $"Service processes that exited on their own: {string.Join("; ", result.UnexpectedExits)}.");
        foreach (var fault in result.Faults.Where(f => f.Error is not null))
            report.AppendLine(CultureInfo.InvariantCulture, $"- {Faults.Name(fault.Fault)}: {fault.Error}");
        if (result.ResendProblems.Count > 0)
        {
            report.AppendLine();
            report.AppendLine("Resends of accepted submissions (same Idempotency-Key, same body) that did not get their 202 back:");
            foreach (var problem in result.ResendProblems)
                report.AppendLine(CultureInfo.InvariantCulture, $"- {problem}");
        }

        var notAccepted = result.Submissions.Where(x => x.Outcome != "accepted").ToList();
        if (notAccepted.Count > 0)
        {
            report.AppendLine();
            report.AppendLine("Submissions without a 202:");
            foreach (var s in notAccepted.Take(50))
                report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- #{s.Index} {s.Kind} {s.Outcome} after {s.Attempts} attempt(s): {s.Detail}"));
        }

        report.AppendLine();
        report.AppendLine("""
            How it checks: every 202's feedback id is recorded by the client that got it. After the last submission the
            checker reads the Redis list `{prefix}reward:journal` directly (not through the service) until every acknowledged
            id is there or the drain timeout passes; then acknowledged ids absent from it are lost and ids present more than
            once are duplicated. Ids present that no client saw acknowledged (a 202 lost on the way, a request given up) are
            allowed and counted. Service logs of this run: generation.log, feedback.log, reward.log, learner.log (and
            *.console.log) in this folder; infra.log has the scripts/infra.sh output.
            """);
    }

    static object Document(ChaosResult result) => new
    {
        result.Verdict,
        result.ExitCode,
        settings = new
        {
            result.Settings.Feedback,
            faults = result.Settings.Faults.Select(Faults.Name),
            result.Settings.Clients,
            result.Settings.RabbitMqPort,
            result.Settings.RedisPort,
            result.Settings.Seed,
            result.Settings.BootstrapSteps,
            drainTimeoutSeconds = result.Settings.DrainTimeout.TotalSeconds,
            result.Settings.RabbitMqDownSeconds,
            result.Settings.RedisDownSeconds,
        },
        counts = result.Check is { } c
            ? new
            {
                acknowledged = c.Acknowledged,
                received = c.Received,
                lost = c.Lost.Count,
                duplicated = c.Duplicated.Count,
                duplicatesAbsorbed = result.DuplicatesAbsorbed,
                replayedAccepts = result.Counters.ReplayedAccepts,
                rewardDuplicates = result.RewardDuplicates,
                unacknowledgedPresent = c.UnacknowledgedPresent,
                journalEntries = c.Entries,
                unreadable = c.Unreadable,
                seqMismatches = c.SeqMismatches,
                kindMismatches = c.KindMismatches,
            }
            : null,
        lostIds = result.Check?.Lost,
        duplicatedIds = result.Check?.Duplicated.Select(d => new { id = d.Key, count = d.Value }),
        faults = result.Faults.Select(f => new
        {
            fault = Faults.Name(f.Fault),
            f.AtSubmission,
            f.Injected,
            f.StartedAt,
            f.DownAt,
            f.BackAt,
            f.ReadyAt,
            f.HealthyAt,
            f.FirstAcceptAt,
            f.JournalResumedAt,
            readyAfterSeconds = f.ReadyAt - f.StartedAt,
            healthyAfterSeconds = f.HealthyAt - f.StartedAt,
            firstAcceptAfterSeconds = f.FirstAcceptAt - f.StartedAt,
            journalResumedAfterSeconds = f.JournalResumedAt - f.StartedAt,
            f.Error,
        }),
        clients = new
        {
            result.Counters.ChatRequests,
            result.Counters.ChatFailures,
            result.Counters.FeedbackAttempts,
            result.Counters.Unavailable503,
            result.Counters.InProgress409,
            result.Counters.OtherServerErrors,
            result.Counters.ConnectionErrors,
            result.Counters.Timeouts,
            result.Counters.ReplayedAccepts,
            result.Counters.Resends,
            result.Counters.ResendsSameId,
            result.Counters.ResendsOtherId,
            result.Counters.ResendsWithout202,
            resendProblems = result.ResendProblems,
        },
        result.DrainSeconds,
        result.Seconds,
        rewardStatus = result.RewardStatus,
        deadLetters = result.DeadLetters,
        result.UnexpectedExits,
        submissions = result.Submissions,
    };

    static string Span(double? from, double? to) => from is { } a && to is { } b ? string.Create(CultureInfo.InvariantCulture, $"{b - a:F1}") : "-";

    static string After(FaultRecord fault, double? at) => at is { } t ? string.Create(CultureInfo.InvariantCulture, $"{t - fault.StartedAt:F1} s") : "-";
}
