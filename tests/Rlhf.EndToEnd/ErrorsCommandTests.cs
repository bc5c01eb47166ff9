using System.Text;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using Rlhf.Cli.Operations;
using Rlhf.Testing;

namespace Rlhf.EndToEnd;

/// <summary>
/// <c>rlhf errors list|requeue|purge</c> against the real RabbitMQ: a unique queue and its <c>_error</c> queue holding three
/// messages shaped like MassTransit's dead-lettered ones (JSON envelope, message id, <c>MT-Fault-*</c> headers).
/// </summary>
public sealed class ErrorsCommandTests : IAsyncLifetime
{
    readonly string queue = $"rlhf-errtest-{Guid.NewGuid():N}";
    readonly string[] messageIds = [.. Enumerable.Range(0, 3).Select(_ => Guid.NewGuid().ToString())];
    IConnection connection = null!;
    IChannel channel = null!;

    string ErrorQueue => queue + "_error";

    static byte[] Body(string id, int n) => Encoding.UTF8.GetBytes(
        "{\"messageId\":\"" + id + "\",\"messageType\":[\"urn:message:Rlhf.Contracts:FeedbackReceived\"],\"message\":{\"n\":" + n + "}}");

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        connection = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync(ct);
        channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, cancellationToken: ct);
        await channel.QueueDeclareAsync(ErrorQueue, durable: false, exclusive: false, autoDelete: false, cancellationToken: ct);
        for (var i = 0; i < messageIds.Length; i++)
        {
            var properties = new BasicProperties
            {
                MessageId = messageIds[i],
                ContentType = "application/vnd.masstransit+json",
                Persistent = true,
                Headers = new Dictionary<string, object?>
                {
                    ["MT-Reason"] = "fault",
                    ["MT-Fault-ExceptionType"] = "System.InvalidOperationException",
                    ["MT-Fault-Message"] = $"boom {i}",
                    ["MT-Fault-Timestamp"] = "2025-01-02T03:04:05.0000000Z",
                    ["MT-Host-MachineName"] = "test",
                },
            };
            await channel.BasicPublishAsync("", ErrorQueue, mandatory: true, properties, Body(messageIds[i], i), ct);
        }

        await WaitForCountAsync(ErrorQueue, 3);
    }

    public async ValueTask DisposeAsync()
    {
        await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
        await channel.QueueDeleteAsync(ErrorQueue, cancellationToken: CancellationToken.None);
        await channel.DisposeAsync();
        await connection.DisposeAsync();
    }

    async Task<uint> CountAsync(string name) =>
        (await channel.QueueDeclarePassiveAsync(name, TestContext.Current.CancellationToken)).MessageCount;

    async Task WaitForCountAsync(string name, uint expected)
    {
        for (var i = 0; i < 50 && await CountAsync(name) != expected; i++)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Equal(expected, await CountAsync(name));
    }

    [Fact]
    public async Task List_shows_every_message_and_leaves_the_queue_unchanged()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        // A bare queue name means its _error queue.
        var code = await ErrorsCommand.ListAsync(TestInfrastructure.RabbitMq, queue, 20, json: false, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var text = output.ToString();
        Assert.Contains($"Queue {ErrorQueue}: 3 message(s).", text);
        var rows = text.Split('\n').Where(l => messageIds.Any(l.Contains)).ToList();
        Assert.Equal(3, rows.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Contains(messageIds[i], rows[i]);
            Assert.Contains("Rlhf.Contracts:FeedbackReceived", rows[i]);
            Assert.Contains("System.InvalidOperationException", rows[i]);
            Assert.Contains($"boom {i}", rows[i]);
            Assert.Contains("2025-01-02T03:04:05", rows[i]);
        }

        await WaitForCountAsync(ErrorQueue, 3);
    }

    [Fact]
    public async Task List_as_json_has_the_count_and_each_message_and_leaves_the_queue_unchanged()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await ErrorsCommand.ListAsync(TestInfrastructure.RabbitMq, queue, 2, json: true, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var document = JsonNode.Parse(output.ToString())!;
        Assert.Equal(ErrorQueue, document["queue"]!.GetValue<string>());
        Assert.Equal(3, document["count"]!.GetValue<int>());
        var messages = document["messages"]!.AsArray();
        Assert.Equal(2, messages.Count);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(i + 1, messages[i]!["position"]!.GetValue<int>());
            Assert.Equal(messageIds[i], messages[i]!["messageId"]!.GetValue<string>());
            Assert.Equal("Rlhf.Contracts:FeedbackReceived", messages[i]!["messageType"]!.GetValue<string>());
            Assert.Equal("System.InvalidOperationException", messages[i]!["exceptionType"]!.GetValue<string>());
            Assert.Equal($"boom {i}", messages[i]!["faultMessage"]!.GetValue<string>());
            Assert.Equal("2025-01-02T03:04:05.0000000Z", messages[i]!["faultTime"]!.GetValue<string>());
        }

        await WaitForCountAsync(ErrorQueue, 3);
    }

    [Fact]
    public async Task Requeue_moves_exactly_max_messages_with_identical_bodies_and_ids()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await ErrorsCommand.RequeueAsync(TestInfrastructure.RabbitMq, ErrorQueue, 2, yes: true, confirm: null, output, error, ct);

        Assert.True(code == 0, error.ToString());
        Assert.Contains("Moved 2 message(s)", output.ToString());
        await WaitForCountAsync(queue, 2);
        await WaitForCountAsync(ErrorQueue, 1);
        for (var i = 0; i < 2; i++)
        {
            var result = await channel.BasicGetAsync(queue, autoAck: true, ct);
            Assert.NotNull(result);
            Assert.Equal(messageIds[i], result.BasicProperties.MessageId);
            Assert.Equal(Body(messageIds[i], i), result.Body.ToArray());
        }

        var left = await channel.BasicGetAsync(ErrorQueue, autoAck: false, ct);
        Assert.NotNull(left);
        Assert.Equal(messageIds[2], left.BasicProperties.MessageId);
        await channel.BasicNackAsync(left.DeliveryTag, multiple: false, requeue: true, ct);
    }

    [Fact]
    public async Task Requeue_without_yes_and_without_a_terminal_is_refused()
    {
        var error = new StringWriter();

        var code = await ErrorsCommand.RequeueAsync(TestInfrastructure.RabbitMq, ErrorQueue, null, yes: false, confirm: null, new StringWriter(), error,
            TestContext.Current.CancellationToken);

        Assert.Equal(1, code);
        Assert.Contains("--yes", error.ToString());
        await WaitForCountAsync(ErrorQueue, 3);
        Assert.Equal(0u, await CountAsync(queue));
    }

    [Fact]
    public async Task Purge_empties_the_queue_and_needs_yes_without_a_terminal()
    {
        var ct = TestContext.Current.CancellationToken;
        var refused = new StringWriter();
        Assert.Equal(1, await ErrorsCommand.PurgeAsync(TestInfrastructure.RabbitMq, ErrorQueue, yes: false, confirm: null, new StringWriter(), refused, ct));
        Assert.Contains("--yes", refused.ToString());
        await WaitForCountAsync(ErrorQueue, 3);

        var output = new StringWriter();
        var error = new StringWriter();
        var code = await ErrorsCommand.PurgeAsync(TestInfrastructure.RabbitMq, ErrorQueue, yes: true, confirm: null, output, error, ct);

        Assert.True(code == 0, error.ToString());
        Assert.Contains("Purged 3 message(s)", output.ToString());
        Assert.Equal(0u, await CountAsync(ErrorQueue));
    }

    [Fact]
    public async Task An_unknown_queue_exits_1_with_a_one_line_message()
    {
        var ct = TestContext.Current.CancellationToken;
        var missing = $"rlhf-errtest-missing-{Guid.NewGuid():N}_error";
        foreach (var run in new Func<TextWriter, Task<int>>[]
        {
            e => ErrorsCommand.ListAsync(TestInfrastructure.RabbitMq, missing, 20, json: false, new StringWriter(), e, ct),
            e => ErrorsCommand.RequeueAsync(TestInfrastructure.RabbitMq, missing, null, true, null, new StringWriter(), e, ct),
            e => ErrorsCommand.PurgeAsync(TestInfrastructure.RabbitMq, missing, true, null, new StringWriter(), e, ct),
        })
        {
            var error = new StringWriter();
            Assert.Equal(1, await run(error));
            var text = error.ToString().TrimEnd();
            Assert.Contains(missing, text);
            Assert.Contains("404", text);
            Assert.DoesNotContain('\n', text);
        }
    }

    [Fact]
    public async Task An_unreachable_broker_exits_1_with_a_one_line_message()
    {
        var broker = new Uri($"amqp://guest:guest@127.0.0.1:{TestInfrastructure.ClosedPort()}/");
        var error = new StringWriter();

        var code = await ErrorsCommand.ListAsync(broker, queue, 20, json: false, new StringWriter(), error, TestContext.Current.CancellationToken);

        Assert.Equal(1, code);
        var text = error.ToString().TrimEnd();
        Assert.StartsWith("error: RabbitMQ at 127.0.0.1:", text);
        Assert.DoesNotContain('\n', text);
        Assert.DoesNotContain("   at ", text);
    }
}
