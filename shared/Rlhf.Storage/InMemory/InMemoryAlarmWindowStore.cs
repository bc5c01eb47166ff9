using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisAlarmWindowStore"/>.</summary>
public sealed class InMemoryAlarmWindowStore : IAlarmWindowStore
{
    readonly Lock gate = new();
    readonly Dictionary<ModelKind, List<AlarmObservation>> windows = [];

    public Task<IReadOnlyList<AlarmObservation>> AppendAsync(ModelKind kind, AlarmObservation observation, int length,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        lock (gate)
        {
            var window = windows.TryGetValue(kind, out var list) ? list : windows[kind] = [];
            window.Add(observation);
            if (window.Count > length)
                window.RemoveRange(0, window.Count - length);
            return Task.FromResult<IReadOnlyList<AlarmObservation>>([.. window]);
        }
    }

    public Task ClearAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
            windows.Remove(kind);
        return Task.CompletedTask;
    }
}
