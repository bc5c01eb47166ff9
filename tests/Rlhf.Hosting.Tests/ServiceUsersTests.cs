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
    OwnServers? servers;
    string output = "";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    int RabbitPort => servers!.RabbitMqPort;

    int RedisPort => servers!.RedisPort;

    public async ValueTask InitializeAsync()
    {
        if (!OwnServers.Enabled)
            return;
        servers = await OwnServers.StartAsync(new Dictionary<string, string> { ["INFRA_REDIS_PREFIX"] = Prefix });
        int code;
        (code, output) = await servers.InfraAsync("users");
        if (code != 0)
        {
            // xunit does not dispose a fixture whose start failed.
            await servers.DisposeAsync();
            Assert.Fail(output);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (servers is not null)
            await servers.DisposeAsync();
    }

    [Fact(Timeout = 600_000)]
    public async Task Service_users_do_their_job_and_nothing_else_and_guest_is_gone()
    {
        if (!OwnServers.Enabled)
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

        await using (var anonymous = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{RedisPort},abortConnect=false,connectTimeout=3000"))
        {
            var noAuth = await Assert.ThrowsAnyAsync<Exception>(() => anonymous.GetDatabase().StringGetAsync(Prefix + "probe"));
            Assert.True(noAuth is RedisConnectionException or RedisServerException, noAuth.ToString());
        }
    }

    IBusControl CreateBus((string User, string Password, string Redis) credentials, Action<IRabbitMqBusFactoryConfigurator> configure) =>
        Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)RabbitPort, "/", h =>
            {
                h.Username(credentials.User);
                h.Password(credentials.Password);
                h.PublisherConfirmation = true;
            });
            configure(cfg);
        });

    async Task<IConnection> ConnectAsync(string user, string password) =>
        await new ConnectionFactory { HostName = "127.0.0.1", Port = RabbitPort, UserName = user, Password = password }.CreateConnectionAsync(Cancel);

    (string User, string Password, string Redis) Credentials(string service)
    {
        var lines = File.ReadAllLines(Path.Combine(servers!.Root, ".infra", $"users-{RabbitPort}-{RedisPort}", $"{service}.env"))
            .Where(line => !line.StartsWith('#') && line.Contains('='))
            .ToDictionary(line => line[..line.IndexOf('=')], line => line[(line.IndexOf('=') + 1)..]);
        return (lines["Bus__RabbitMq__Username"], lines["Bus__RabbitMq__Password"], lines["Redis__Configuration"]);
    }
}
