using Rlhf.Generation.Rollouts;
using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>What a streamed <see cref="GenerationJob"/> reports while it is decoded.</summary>
public abstract record JobEvent;

/// <summary>The job left the queue and runs on <paramref name="PolicyVersion"/>.</summary>
public sealed record JobStarted(long PolicyVersion) : JobEvent;

/// <summary>One decoded token of a choice: the text it lets through (may be empty) and, for content tokens, its log-probs.</summary>
public sealed record ChoiceDelta(int Choice, string Text, TokenLogProb? Token, IReadOnlyList<TokenLogProb> Top) : JobEvent;

/// <summary>A choice ended; the job completes when all of its choices did.</summary>
public sealed record ChoiceFinished(int Choice, FinishedResponse Response) : JobEvent;
