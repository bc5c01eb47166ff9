using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Hosting.Telemetry;

namespace Rlhf.Hosting.Tests;

public sealed class LoopMetricsTests
{
    /// <summary>Every measurement of one <see cref="LoopMetrics"/> (its own meter factory, so other tests' meters never count).</summary>
    sealed class Recorder : IDisposable
    {
        readonly MeterListener listener = new();
        public List<(string Name, double Value, Dictionary<string, object?> Tags)> Values { get; } = [];

        public Recorder(IMeterFactory factory)
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == LoopMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                    l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Values.Add((i.Name, v, Tags(tags))));
            listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Values.Add((i.Name, v, Tags(tags))));
            listener.Start();
        }

        static Dictionary<string, object?> Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var d = new Dictionary<string, object?>();
            foreach (var t in tags)
                d[t.Key] = t.Value;
            return d;
        }

        public double Sum(string name) => Values.Where(v => v.Name == name).Sum(v => v.Value);

        public IEnumerable<double> Observe(string name)
        {
            Values.Clear();
            listener.RecordObservableInstruments();
            return Values.Where(v => v.Name == name).Select(v => v.Value);
        }

        public void Dispose() => listener.Dispose();
    }

    static PolicyMetrics Metrics(double kl, double reward) => new(kl, reward, 0.1, 0.25, null, 0.05, 8, null, null, 0.75, ClipFraction: kl * 10);

    [Fact]
    public void Published_events_become_loop_counters_gauges_and_verdicts()
    {
        using var provider = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = provider.GetRequiredService<IMeterFactory>();
        using var recorder = new Recorder(factory);
        var metrics = new LoopMetrics(factory);
        var now = DateTimeOffset.UtcNow;
        var blob = new BlobReference("redis://blob", new string('0', 64), 1, "safetensors");

        metrics.Published(new RolloutScored(Guid.NewGuid(), "g", 3, 1, 0.5f, now));
        metrics.Published(new RolloutScored(Guid.NewGuid(), "g", 3, 1, 1.5f, now));
        metrics.Published(new PolicyUpdated(4, 3, blob, Metrics(0.02, 0.9), false, now));
        metrics.Published(new PolicyRejected(5, 4, "KL bound", Metrics(0.5, 1.0), now));
        metrics.Consumed(new RolloutScored(Guid.NewGuid(), "g", 1, 1, 0f, now));

        Assert.Equal(2, recorder.Sum("rlhf.rollouts.scored"));
        Assert.Equal(2.0, recorder.Sum("rlhf.rollout.reward"));
        Assert.Equal(3, recorder.Sum("rlhf.policy.lag")); // knows version 4, the rollout came from version 1
        var verdicts = recorder.Values.Where(v => v.Name == "rlhf.gate.verdicts").Select(v => (string)v.Tags["verdict"]!).ToList();
        Assert.Equal(["accepted", "rejected"], verdicts);
        Assert.Equal([0.02], recorder.Observe("rlhf.policy.kl"));
        Assert.Equal([0.2], recorder.Observe("rlhf.policy.clip_fraction")); // of the published version, not the rejected one
        Assert.Equal([0.75], recorder.Observe("rlhf.policy.eval_score"));
        Assert.Equal([4.0], recorder.Observe("rlhf.policy.version"));
        Assert.Empty(recorder.Observe("rlhf.reward_model.heldout_accuracy"));
    }
}
