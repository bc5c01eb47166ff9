using System.Net;
using System.Net.Sockets;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Rlhf.Contracts;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Hosting.Tests;

/// <summary>
/// <c>scripts/infra.sh users</c> on a RabbitMQ node and a Redis of the test's own (free ports, fresh data, stopped
/// afterwards; the shared servers are never touched): the feedback and reward users do their job over MassTransit (a
/// ranking published by one is consumed from <c>ranking-submitted</c> by the other), feedback cannot read the reward's
/// queue or publish a learner event, guest cannot connect; in Redis a service user reaches only keys under the prefix,
/// no dangerous command, and a client without credentials nothing.
/// </summary>
public sealed class ServiceUsersTests : IAsyncLifetime
{
    const string Prefix = "rlhf-users-test:";
    // RabbitMQ's distribution port is the AMQP port + 20000 (scripts/infra.sh), so both must be free and below 65536.
    readonly int rabbitPort = FreePort(port => Free(port) && Free(port + 20_000));
    readonly int redisPort = FreePort(Free);
    readonly string root = ExternalTool.RepositoryRoot();
    string output = "";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("RLHF_TEST_RABBITMQ") is null)
            return;
        try
        {
            var (code, up) = await InfraAsync("up");
            Assert.True(code == 0, up);
            (code, output) = await InfraAsync("users");
            Assert.True(code == 0, output);
        }
        catch
        {
            // xunit does not dispose a fixture whose start failed: stop what infra.sh started on the test's ports.
            await DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Environment.GetEnvironmentVariable("RLHF_TEST_RABBITMQ") is null)
            return;
        await InfraAsync("down");
        // The servers' data and the generated credentials of these one-off ports.
        foreach (var name in new[] { $"rabbitmq-{rabbitPort}", $"redis-{redisPort}", $"users-{rabbitPort}-{redisPort}" })
            TestDirectory.Delete(Path.Combine(root, ".infra", name));
        File.Delete(Path.Combine(root, ".infra", $"rabbitmq-{rabbitPort}.console.log"));
    }

    [Fact(Timeout = 600_000)]
    public async Task Service_users_do_their_job_and_nothing_else_and_guest_is_gone()
    {
        if (Environment.GetEnvironmentVariable("RLHF_TEST_RABBITMQ") is null)
            Assert.Skip("RLHF_TEST_RABBITMQ is not set (scripts/test.sh sets it and installs the servers this test starts).");
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var feedback = Credentials("feedback");
        var reward = Credentials("reward");
        Assert.Contains("rabbitmq: guest deleted", output);

        // The reward's user consumes its queue; the feedback's user publishes the event with publisher confirms.
        var received = new TaskCompletionSource<RankingSubmitted>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = CreateBus(reward, cfg => cfg.ReceiveEndpoint("ranking-submitted", e => e.Handler<RankingSubmitted>(context =>
        {
            received.TrySetResult(context.Message);
            return Task.CompletedTask;
        })));
        var publisher = CreateBus(feedback, _ => { });
        await consumer.StartAsync(Cancel);
        await publisher.StartAsync(Cancel);
        try
        {
            var ranking = new RankingSubmitted(Guid.NewGuid(), "group-1", [[Guid.NewGuid()], [Guid.NewGuid()]], false, "rater", "client", DateTimeOffset.UtcNow);
            await publisher.Publish(ranking, Cancel);
            var got = await received.Task.WaitAsync(TimeSpan.FromSeconds(60), Cancel);
            Assert.Equal(ranking.FeedbackId, got.FeedbackId);
        }
        finally
        {
            await publisher.StopAsync(CancellationToken.None);
            await consumer.StopAsync(CancellationToken.None);
        }

        // Feedback's user may not read the reward's queue, nor publish a learner event.
        await using (var connection = await ConnectAsync(feedback.User, feedback.Password))
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: Cancel);
            var refused = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.BasicGetAsync("ranking-submitted", autoAck: false, Cancel));
            Assert.Equal<ushort?>(403, refused.ShutdownReason?.ReplyCode);
            Assert.Contains("ACCESS_REFUSED", refused.ShutdownReason?.ReplyText);
        }

        await using (var connection = await ConnectAsync(feedback.User, feedback.Password))
        {
            // With confirms the publish waits for the broker, which closes the channel instead (write is checked before anything else).
            var options = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
            await using var channel = await connection.CreateChannelAsync(options, Cancel);
            await Assert.ThrowsAnyAsync<Exception>(async () =>
                await channel.BasicPublishAsync("Rlhf.Contracts:PolicyUpdated", "", mandatory: false, new BasicProperties(), new byte[] { 1 }, Cancel));
            Assert.Equal<ushort?>(403, channel.CloseReason?.ReplyCode);
        }

        // guest was deleted: the broker refuses the login.
        await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => ConnectAsync("guest", "guest"));

        // Redis: the service user reaches keys under the prefix only; no dangerous commands; anonymous clients nothing.
        // allowAdmin: the client would refuse admin commands itself; the point is that the server refuses them.
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(feedback.Redis + ",allowAdmin=true"))
        {
            var db = redis.GetDatabase();
            Assert.True(await db.StringSetAsync(Prefix + "probe", "1"));
            Assert.Equal("1", (string?)await db.StringGetAsync(Prefix + "probe"));
            var otherKey = await Assert.ThrowsAsync<RedisServerException>(() => db.StringSetAsync("someone-else:probe", "1"));
            Assert.Contains("NOPERM", otherKey.Message);
            var flush = await Assert.ThrowsAsync<RedisServerException>(() => db.ExecuteAsync("FLUSHALL"));
            Assert.Contains("NOPERM", flush.Message);
        }

        await using (var anonymous = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redisPort},abortConnect=false,connectTimeout=3000"))
        {
            var noAuth = await Assert.ThrowsAnyAsync<Exception>(() => anonymous.GetDatabase().StringGetAsync(Prefix + "probe"));
            Assert.True(noAuth is RedisConnectionException or RedisServerException, noAuth.ToString());
        }
    }

    IBusControl CreateBus((string User, string Password, string Redis) credentials, Action<IRabbitMqBusFactoryConfigurator> configure) =>
        Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)rabbitPort, "/", h =>
            {
                h.Username(credentials.User);
                h.Password(credentials.Password);
                h.PublisherConfirmation = true;
            });
            configure(cfg);
        });

    async Task<IConnection> ConnectAsync(string user, string password) =>
        await new ConnectionFactory { HostName = "127.0.0.1", Port = rabbitPort, UserName = user, Password = password }.CreateConnectionAsync(Cancel);

    (string User, string Password, string Redis) Credentials(string service)
    {
        var lines = File.ReadAllLines(Path.Combine(root, ".infra", $"users-{rabbitPort}-{redisPort}", $"{service}.env"))
            .Where(line => !line.StartsWith('#') && line.Contains('='))
            .ToDictionary(line => line[..line.IndexOf('=')], line => line[(line.IndexOf('=') + 1)..]);
        return (lines["Bus__RabbitMq__Username"], lines["Bus__RabbitMq__Password"], lines["Redis__Configuration"]);
    }

    async Task<(int Code, string Output)> InfraAsync(string command)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Path.Combine(root, "scripts", "infra.sh"), command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["RABBITMQ_PORT"] = rabbitPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["REDIS_PORT"] = redisPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["INFRA_FRESH"] = "1";
        start.Environment["INFRA_REDIS_PREFIX"] = Prefix;
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        await process.WaitForExitAsync(CancellationToken.None);
        return (process.ExitCode, await stdout + await stderr);
    }

    static int FreePort(Func<int, bool> free)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(21_000, 29_000);
            if (free(port))
                return port;
        }

        throw new InvalidOperationException("No free port in 21000-29000.");
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
