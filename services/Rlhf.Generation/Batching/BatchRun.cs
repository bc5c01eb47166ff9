using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;
using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>
/// One continuous batch on one policy version, from its first job until its last row leaves: jobs join at token
/// boundaries (<see cref="Admit"/>), every <see cref="Step"/> decodes one token for every running choice and reports
/// it, a choice ends the moment its <see cref="ResponseTracker"/> says so, and a cancelled job's rows are freed at the
/// next token. Owned by the batcher's decode thread.
/// </summary>
sealed class BatchRun(ServedPolicy policy, PolicyBase policyBase, ContinuousDecoder decoder, GenerationStats stats)
{
    sealed class RunningJob(GenerationJob job)
    {
        public GenerationJob Job { get; } = job;
        public FinishedResponse?[] Finished { get; } = new FinishedResponse?[job.Candidates];
        public int Open { get; set; } = job.Candidates;
    }

    sealed record RunningChoice(RunningJob Owner, int Index, ResponseTracker Tracker);

    readonly Dictionary<DecodeRow, RunningChoice> choices = [];
    readonly Dictionary<string, int> rowsByClient = new(StringComparer.Ordinal);

    public long Version => policy.Version;

    public int RunningRows => choices.Count;

    public int FreeRows => decoder.FreeSlots;

    public bool IsEmpty => choices.Count == 0;

    /// <summary>Rows that <paramref name="clientKey"/>'s jobs run now (for fair admission).</summary>
    public int RowsOf(string clientKey) => rowsByClient.GetValueOrDefault(clientKey);

    /// <summary>Whether <paramref name="job"/> fits a slot: its prompt plus max tokens and its candidates.</summary>
    public bool Fits(GenerationJob job) =>
        job.Candidates <= decoder.FreeSlots && job.PromptTokenIds.Count + job.Sampling.MaxNewTokens <= decoder.Capacity;

    /// <summary>Prefills the job's prompt, starts its candidates and reports their first tokens.</summary>
    public void Admit(GenerationJob job)
    {
        if (job.IsDone)
            return;
        var running = new RunningJob(job);
        job.Report(new JobStarted(policy.Version));
        var first = decoder.Admit(policy.Model, job.PromptTokenIds, job.RowSamplings(), job.TopLogProbs);
        for (var i = 0; i < first.Count; i++)
        {
            var tracker = new ResponseTracker(policyBase.Tokenizer, policyBase.StopTokenIds, job.StopStrings, first[i].Row.Sampling.MaxNewTokens);
            choices[first[i].Row] = new RunningChoice(running, i, tracker);
        }

        rowsByClient[job.ClientKey] = RowsOf(job.ClientKey) + job.Candidates;
        Accept(first);
    }

    /// <summary>One token for every running choice; then frees the rows of jobs their callers gave up.</summary>
    public void Step()
    {
        Accept(decoder.Step(policy.Model));
        var abandoned = choices.Where(c => c.Value.Owner.Job.IsDone).ToList();
        foreach (var (row, choice) in abandoned)
            Leave(row, choice);
        for (var i = 0; i < abandoned.Select(c => c.Value.Owner).Distinct().Count(); i++)
            stats.RequestCancelled();
    }

    /// <summary>Ends every running job with <paramref name="error"/> and frees all rows.</summary>
    public void FailAll(Exception error)
    {
        foreach (var (row, choice) in choices.ToList())
        {
            choice.Owner.Job.Fail(error);
            Leave(row, choice);
        }
    }

    void Accept(IReadOnlyList<SampledToken> sampled)
    {
        foreach (var token in sampled)
        {
            var choice = choices[token.Row];
            var job = choice.Owner.Job;
            if (job.IsDone)
                continue;
            var text = choice.Tracker.Accept(token.TokenId, token.LogProb, token.Top);
            var finished = choice.Tracker.Finished;
            var isContent = finished is null || finished.ContentTokenCount == finished.TokenIds.Count;
            if (text.Length > 0 || isContent)
                job.Report(new ChoiceDelta(choice.Index, text, isContent ? new TokenLogProb(token.TokenId, token.LogProb) : null, token.Top));
            if (finished is null)
                continue;

            job.Report(new ChoiceFinished(choice.Index, finished));
            Leave(token.Row, choice);
            choice.Owner.Finished[choice.Index] = finished;
            if (--choice.Owner.Open == 0)
            {
                stats.RequestServed(policy.Version, job.Candidates);
                job.Complete(new GenerationResult(policy.Version, choice.Owner.Finished.Select(f => f!).ToList()));
            }
        }
    }

    void Leave(DecodeRow row, RunningChoice choice)
    {
        choices.Remove(row);
        decoder.Release(row);
        var key = choice.Owner.Job.ClientKey;
        if (rowsByClient.TryGetValue(key, out var rows) && rows > 1)
            rowsByClient[key] = rows - 1;
        else
            rowsByClient.Remove(key);
    }
}
