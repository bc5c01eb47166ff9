using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>One gate comparison as the reward-hacking alarm remembers it.</summary>
/// <param name="Reward">The candidate's mean reward-model score on the served rollouts it was trained on.</param>
/// <param name="Evaluators">Each independent evaluator's mean score of the candidate on the gate's prompts.</param>
public sealed record AlarmObservation(double Reward, IReadOnlyDictionary<string, double> Evaluators);

/// <summary>
/// The reward-hacking alarm's sliding window, kept outside the learner's process so a restarted learner goes on
/// watching the same candidates. Redis: one list per model kind, appended, trimmed and read by one Lua script.
/// </summary>
public interface IAlarmWindowStore
{
    /// <summary>Appends <paramref name="observation"/>, keeps the newest <paramref name="length"/> and returns them, oldest first.</summary>
    Task<IReadOnlyList<AlarmObservation>> AppendAsync(ModelKind kind, AlarmObservation observation, int length, CancellationToken cancellationToken = default);

    /// <summary>Forgets the window (after the alarm fired, so the next alarm needs a new rise).</summary>
    Task ClearAsync(ModelKind kind, CancellationToken cancellationToken = default);
}
