using System.Text.Encodings.Web;
using System.Text.Json;
using Rlhf.Archive;
using Rlhf.Contracts;

namespace Rlhf.Cli.Archive;

/// <summary>
/// TRL's conversational dataset types from an event log, each line exactly the documented columns:
/// preference <c>{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}</c> from
/// rankings (every cross-tier pair), regenerations (kept over replaced) and edits (edit over original); and unpaired
/// preference (KTO) <c>{"prompt": [messages], "completion": [assistant message], "label": true|false}</c> from ratings
/// (thumbs up true, down false; 4-5 stars true, 1-2 false, 3 stars left out as neither).
/// </summary>
public static class ConversationalExports
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    sealed record Rollout(string GroupId, IReadOnlyList<ChatMessage>? Prompt, string Response);

    sealed record PreferenceLine(IReadOnlyList<ChatMessage> Prompt, IReadOnlyList<ChatMessage> Chosen, IReadOnlyList<ChatMessage> Rejected);

    sealed record UnpairedLine(IReadOnlyList<ChatMessage> Prompt, IReadOnlyList<ChatMessage> Completion, bool Label);

    static IReadOnlyList<ChatMessage> Assistant(string content) => [new ChatMessage("assistant", content)];

    /// <summary>
    /// Every rollout's group, conversation and response, and the messages of the events of <paramref name="types"/> that
    /// match the filter, in file order (read as they stream by: the reader reuses each line's document).
    /// </summary>
    static (Dictionary<Guid, Rollout> Rollouts, List<object> Feedback) Read(string eventsPath, EventFilter filter, params string[] types)
    {
        var selected = filter.WithErasures(eventsPath) with { PolicyVersion = null, Types = new HashSet<string>(types) };
        var rollouts = new Dictionary<Guid, Rollout>();
        var feedback = new List<object>();
        foreach (var e in EventLogReader.Read(eventsPath))
        {
            if (e.Type == nameof(RolloutGenerated) && e.ReferencedRollouts().FirstOrDefault() is var id && id != Guid.Empty)
                rollouts[id] = new Rollout(e.GetString("groupId") ?? "", ChatMlConversation.Parse(e.GetString("promptText") ?? ""), e.GetString("responseText") ?? "");
            else if (selected.Matches(e))
                feedback.Add(e.Type switch
                {
                    nameof(RankingSubmitted) => e.MessageAs<RankingSubmitted>(),
                    nameof(RegenerationSubmitted) => e.MessageAs<RegenerationSubmitted>(),
                    nameof(DemonstrationSubmitted) => e.MessageAs<DemonstrationSubmitted>(),
                    _ => e.MessageAs<RatingSubmitted>(),
                });
        }

        return (rollouts, feedback);
    }

    public static int RunPreferences(string eventsPath, EventFilter filter, string? outPath, TextWriter output, TextWriter error) =>
        ArchiveOptions.Execute(outPath, output, error, destination =>
        {
            var (rollouts, feedback) = Read(eventsPath, filter, nameof(RankingSubmitted), nameof(RegenerationSubmitted), nameof(DemonstrationSubmitted));
            int lines = 0, skipped = 0;
            void Write(IReadOnlyList<ChatMessage> prompt, string chosen, string rejected)
            {
                destination.WriteLine(JsonSerializer.Serialize(new PreferenceLine(prompt, Assistant(chosen), Assistant(rejected)), Json));
                lines++;
            }

            foreach (var message in feedback)
            {
                switch (message)
                {
                    case RankingSubmitted ranking:
                        var tiers = ranking.RankedRolloutIds.Select(t => t.Select(id => rollouts.GetValueOrDefault(id)).ToList()).ToList();
                        if (tiers.Any(t => t.Any(r => r?.GroupId != ranking.GroupId || r.Prompt is null)))
                        {
                            skipped++;
                            continue;
                        }

                        for (var better = 0; better < tiers.Count; better++)
                            for (var worse = better + 1; worse < tiers.Count; worse++)
                                foreach (var chosen in tiers[better])
                                    foreach (var rejected in tiers[worse])
                                        Write(chosen!.Prompt!, chosen.Response, rejected!.Response);
                        break;
                    case RegenerationSubmitted regeneration:
                        if (rollouts.GetValueOrDefault(regeneration.KeptRolloutId) is { Prompt: { } prompt } kept
                            && rollouts.GetValueOrDefault(regeneration.ReplacedRolloutId) is { } replaced)
                            Write(prompt, kept.Response, replaced.Response);
                        else
                            skipped++;
                        break;
                    case DemonstrationSubmitted demonstration:
                        if (demonstration.EditedRolloutId is not { } edited)
                            continue; // a demonstration that edits nothing has no rejected answer: `rlhf export sft`
                        if (rollouts.GetValueOrDefault(edited) is { } original)
                            Write(demonstration.Messages, demonstration.IdealResponse, original.Response);
                        else
                            skipped++;
                        break;
                }
            }

            destination.Flush();
            error.WriteLine($"exported {lines} conversational preference pairs; skipped {skipped} feedback events whose rollouts are unknown or not ChatML");
            return 0;
        });

    public static int RunUnpaired(string eventsPath, EventFilter filter, string? outPath, TextWriter output, TextWriter error) =>
        ArchiveOptions.Execute(outPath, output, error, destination =>
        {
            var (rollouts, feedback) = Read(eventsPath, filter, nameof(RatingSubmitted));
            int lines = 0, neutral = 0, unknown = 0;
            foreach (var rating in feedback.Cast<RatingSubmitted>())
            {
                bool? label = rating.Scale == RatingScale.Thumbs ? rating.Value == 1 : rating.Value >= 4 ? true : rating.Value <= 2 ? false : null;
                if (label is null)
                {
                    neutral++;
                    continue;
                }

                if (rollouts.GetValueOrDefault(rating.RolloutId) is not { Prompt: { } prompt } rollout)
                {
                    unknown++;
                    continue;
                }

                destination.WriteLine(JsonSerializer.Serialize(new UnpairedLine(prompt, Assistant(rollout.Response), label.Value), Json));
                lines++;
            }

            destination.Flush();
            error.WriteLine($"exported {lines} unpaired examples; skipped {neutral} 3-star ratings (neither good nor bad), {unknown} of unknown or non-ChatML rollouts");
            return 0;
        });
}
