using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Rlhf.Chaos;

namespace Rlhf.Chaos.Tests;

/// <summary>
/// <c>rlhf chaos</c> with a small N: its own RabbitMQ node and Redis on free ports (scripts/infra.sh), the four services
/// as processes, 40 feedback submissions while RabbitMQ and Redis are restarted and the reward and learner processes are
/// killed (-9) and restarted; every acknowledged feedback must be in the reward journal exactly once.
/// </summary>
public sealed class ChaosCommandTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), $"rlhf-chaos-test-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(root))
            Directory.Delete(root, recursive: true);
    }

    [Fact(Timeout = 420_000)]
    public async Task Every_acknowledged_feedback_reaches_the_journal_once_through_broker_cache_and_process_faults()
    {
        var (rabbitMq, redis, services) = FreePorts();
        var settings = new ChaosSettings(Feedback: 40, Faults: Faults.All, Clients: 4, RabbitMqPort: rabbitMq, RedisPort: redis, ServicePort: services,
            DrainTimeout: TimeSpan.FromSeconds(90), SubmitTimeout: TimeSpan.FromSeconds(60), Seed: 1, OutDirectory: Path.Combine(root, "run"),
            CacheDirectory: Path.Combine(Path.GetTempPath(), "rlhf-chaos-test-bootstrap"), BootstrapSteps: 20);
        var output = new StringWriter();

        var result = await ChaosRun.RunAsync(settings, output, TestContext.Current.CancellationToken);

        TestContext.Current.TestOutputHelper?.WriteLine(output.ToString());
        Assert.True(result.ExitCode == 0, result.Verdict);
        var check = Assert.IsType<JournalCheckResult>(result.Check);
        Assert.True(check.Acknowledged > 0);
        Assert.Equal(check.Acknowledged, check.Received);
        Assert.Empty(check.Lost);
        Assert.Empty(check.Duplicated);
        Assert.Equal(0, check.Unreadable);
        Assert.Equal(0, check.SeqMismatches);
        Assert.Equal(Faults.All, result.Faults.Select(f => f.Fault));
        Assert.All(result.Faults, f =>
        {
            Assert.True(f.Injected, $"{f.Fault} was not injected: {f.Error}");
            Assert.NotNull(f.DownAt);
            Assert.True(f.ReadyAt > f.StartedAt, $"{f.Fault}: services not ready again");
        });
        // The faults were spread: feedback was accepted after each of them.
        Assert.All(result.Faults, f => Assert.True(f.FirstAcceptAt is not null, $"no 202 after {f.Fault}"));

        var document = JsonNode.Parse(File.ReadAllText(Path.Combine(settings.OutDirectory, "chaos.json")))!;
        Assert.Equal(0, document["counts"]!["lost"]!.GetValue<int>());
        Assert.Equal(check.Acknowledged, document["counts"]!["acknowledged"]!.GetValue<int>());
        Assert.Contains("lost", File.ReadAllText(Path.Combine(settings.OutDirectory, "report.md")));
        // The servers this run started are stopped again.
        Assert.False(await ChaosInfrastructure.ListensAsync(rabbitMq, TestContext.Current.CancellationToken));
        Assert.False(await ChaosInfrastructure.ListensAsync(redis, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Check_reports_lost_and_duplicated_ids_and_allows_unacknowledged_ones()
    {
        var (a, b, c, d) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        SubmissionRecord Accepted(int index, Guid id, string kind = "ranking") =>
            new(index, 0, kind, $"key-{index}", "accepted", id, 1, index, index + 0.5, index, null);
        var submissions = new[] { Accepted(1, a), Accepted(2, b, "rating"), Accepted(3, c) };
        var journal = new[]
        {
            JournalEntry.Parse(1, $$"""{"seq":1,"feedbackId":"{{a}}","kind":"ranking","groupId":"g1"}"""),
            JournalEntry.Parse(2, $$"""{"seq":2,"feedbackId":"{{b}}","kind":"ranking","groupId":"g2"}"""),
            JournalEntry.Parse(3, $$"""{"seq":3,"feedbackId":"{{a}}","kind":"ranking","groupId":"g1"}"""),
            JournalEntry.Parse(4, $$"""{"seq":5,"feedbackId":"{{d}}","kind":"rating","groupId":"g3"}"""),
            JournalEntry.Parse(5, """{"seq":5,"kind":"rating"}"""),
        };

        var check = JournalCheckResult.Check(submissions, journal);

        Assert.False(check.Passed);
        Assert.Equal(3, check.Acknowledged);
        Assert.Equal(2, check.Received);
        Assert.Equal([c], check.Lost);
        Assert.Equal([new KeyValuePair<Guid, int>(a, 2)], check.Duplicated);
        Assert.Equal(1, check.UnacknowledgedPresent); // d: in the journal, never acknowledged
        Assert.Equal(1, check.Unreadable);
        Assert.Equal(1, check.SeqMismatches);
        Assert.Equal(1, check.KindMismatches); // b was submitted as a rating
    }

    /// <summary>Free loopback ports: RabbitMQ's AMQP port and its distribution port (+20000), Redis, and four service ports.</summary>
    static (int RabbitMq, int Redis, int Services) FreePorts()
    {
        var random = new Random();
        int Pick(Func<int, bool> free)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var port = random.Next(21_000, 29_000);
                if (free(port))
                    return port;
            }

            throw new InvalidOperationException("no free port found");
        }

        var rabbitMq = Pick(p => Free(p) && Free(p + 20_000));
        var redis = Pick(p => p != rabbitMq && Free(p));
        var services = Pick(p => Enumerable.Range(p + 1, 4).All(Free) && Math.Abs(p - rabbitMq) > 5 && Math.Abs(p - redis) > 5);
        return (rabbitMq, redis, services);
    }

    static bool Free(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
