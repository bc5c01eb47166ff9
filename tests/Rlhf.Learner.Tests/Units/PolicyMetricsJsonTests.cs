using System.Text.Json;
using Rlhf.Contracts;

namespace Rlhf.Learner.Tests.Units;

/// <summary><see cref="PolicyMetrics.SftLoss"/> is optional: events and checkpoints written before it existed still read.</summary>
public sealed class PolicyMetricsJsonTests
{
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Fact]
    public void Metrics_written_without_an_sft_loss_read_with_a_null_one()
    {
        const string older = """{"klToReference":0.01,"meanReward":0.1,"policyLoss":0,"valueLoss":0,"ptxLoss":null,"klCoefficient":0.1,"rolloutsUsed":8,"evalMeanReward":null,"evalKl":null,"evalTaskAccuracy":null}""";

        var metrics = JsonSerializer.Deserialize<PolicyMetrics>(older, Web)!;

        Assert.Null(metrics.SftLoss);
        Assert.Equal((0.01, 8), (metrics.KlToReference, metrics.RolloutsUsed));
    }

    [Fact]
    public void An_sft_loss_round_trips()
    {
        var metrics = new PolicyMetrics(0.2, 0, 0, 0, null, 0.05, 0, null, 0.2, null, SftLoss: 5.5);

        var json = JsonSerializer.Serialize(metrics, Web);

        Assert.Contains("\"sftLoss\":5.5", json);
        Assert.Equal(metrics, JsonSerializer.Deserialize<PolicyMetrics>(json, Web));
    }
}
