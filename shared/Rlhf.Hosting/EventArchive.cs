using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Rlhf.Contracts;

namespace Rlhf.Hosting;

/// <summary>Configuration section <c>Archive</c>: the durable event archive, a RabbitMQ stream bound to every event exchange.</summary>
public sealed class EventArchiveOptions
{
    public const string SectionName = "Archive";

    /// <summary>Declare the archive stream at start-up (RabbitMQ transport only). Off by default.</summary>
    public bool Enabled { get; set; }

    /// <summary>Name of the stream queue.</summary>
    [Required]
    public string QueueName { get; set; } = "rlhf-archive";

    /// <summary>Retention by age, RabbitMQ's <c>x-max-age</c> syntax: a number and one of Y, M, D, h, m, s (<c>7D</c>, <c>12h</c>).</summary>
    [Required]
    [RegularExpression("^[0-9]+[YMDhms]$", ErrorMessage = "must be a number followed by Y, M, D, h, m or s, e.g. 7D")]
    public string MaxAge { get; set; } = "7D";

    /// <summary>Retention by size (<c>x-max-length-bytes</c>); the oldest segments go first. Default 10 GB.</summary>
    [Range(1, long.MaxValue)]
    public long MaxLengthBytes { get; set; } = 10_000_000_000;
}

/// <summary>
/// The durable event archive: a stream queue (<c>x-queue-type=stream</c>) bound to the fanout exchange of every event
/// in <c>Rlhf.Contracts</c>, so every published event is kept, in publish order, for <see cref="EventArchiveOptions.MaxAge"/>
/// or up to <see cref="EventArchiveOptions.MaxLengthBytes"/>. Read it with <c>rlhf archive dump</c>.
/// </summary>
public static class EventArchive
{
    /// <summary>The events the platform publishes; each goes to a fanout exchange named by <see cref="ExchangeName"/>.</summary>
    public static readonly IReadOnlyList<Type> EventTypes =
    [
        typeof(RolloutGenerated), typeof(RankingSubmitted), typeof(RatingSubmitted), typeof(DemonstrationSubmitted),
        typeof(RolloutScored), typeof(RewardModelUpdated), typeof(PolicyUpdated), typeof(PolicyRejected),
    ];

    /// <summary>The exchange MassTransit publishes <paramref name="messageType"/> to: <c>Namespace:Name</c>.</summary>
    public static string ExchangeName(Type messageType) => $"{messageType.Namespace}:{messageType.Name}";

    /// <summary>The arguments of the stream queue.</summary>
    public static Dictionary<string, object?> QueueArguments(EventArchiveOptions options) => new()
    {
        ["x-queue-type"] = "stream",
        ["x-max-age"] = options.MaxAge,
        ["x-max-length-bytes"] = options.MaxLengthBytes,
    };

    /// <summary>
    /// Declares the stream and the event exchanges (fanout, durable, as MassTransit declares them) and binds each exchange
    /// to the stream. Idempotent; a queue of that name declared with other arguments fails with PRECONDITION_FAILED (406).
    /// </summary>
    public static async Task DeclareAsync(IChannel channel, EventArchiveOptions options, CancellationToken cancellationToken)
    {
        await channel.QueueDeclareAsync(options.QueueName, durable: true, exclusive: false, autoDelete: false,
            arguments: QueueArguments(options), cancellationToken: cancellationToken);
        foreach (var type in EventTypes)
        {
            var exchange = ExchangeName(type);
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(options.QueueName, exchange, routingKey: "", cancellationToken: cancellationToken);
        }
    }

    /// <summary>Opens a connection to the broker of <paramref name="rabbit"/> and runs <see cref="DeclareAsync(IChannel, EventArchiveOptions, CancellationToken)"/>.</summary>
    public static async Task DeclareAsync(RabbitMqOptions rabbit, EventArchiveOptions options, CancellationToken cancellationToken)
    {
        var factory = ConnectionFactory(rabbit, "rlhf-archive-declare");
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await DeclareAsync(channel, options, cancellationToken);
    }

    public static ConnectionFactory ConnectionFactory(RabbitMqOptions rabbit, string clientName) => new()
    {
        HostName = rabbit.Host,
        Port = rabbit.Port,
        VirtualHost = rabbit.VirtualHost,
        UserName = rabbit.Username,
        Password = rabbit.Password,
        ClientProvidedName = clientName,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>
    /// Binds <c>Archive</c> and, when <c>Archive:Enabled</c> and <c>Bus:Transport</c> is RabbitMq, declares the archive
    /// stream at start-up (before the bus starts). Safe to call more than once.
    /// </summary>
    public static IHostApplicationBuilder AddEventArchive(this IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var archive = new EventArchiveOptions();
        configuration.GetSection(EventArchiveOptions.SectionName).Bind(archive);
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(archive, new ValidationContext(archive), results, validateAllProperties: true))
            throw new OptionsValidationException(EventArchiveOptions.SectionName, typeof(EventArchiveOptions),
                results.Select(r => $"{EventArchiveOptions.SectionName}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}").ToList());

        builder.Services.AddOptions<EventArchiveOptions>().Bind(configuration.GetSection(EventArchiveOptions.SectionName));
        var bus = new BusOptions();
        configuration.GetSection(BusOptions.SectionName).Bind(bus);
        if (archive.Enabled && bus.Transport == BusTransport.RabbitMq)
            builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, EventArchiveDeclaration>());
        return builder;
    }
}

/// <summary>
/// Declares the archive in <see cref="StartingAsync"/>, which runs before any hosted service starts (the bus included),
/// so nothing published by this host is missed. An unreachable broker does not stop the host: the declaration is retried
/// in the background. A queue of that name with other arguments does stop it, naming the queue.
/// </summary>
sealed class EventArchiveDeclaration(IOptions<BusOptions> bus, IOptions<EventArchiveOptions> archive, ILogger<EventArchiveDeclaration> logger)
    : IHostedLifecycleService, IDisposable
{
    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);
    readonly CancellationTokenSource stopping = new();
    Task? retry;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        if (await TryDeclareAsync(cancellationToken))
            return;
        retry = Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(RetryDelay, stopping.Token);
                    if (await TryDeclareAsync(stopping.Token))
                        return;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (InvalidOperationException error)
                {
                    logger.LogError(error, "Event archive not declared");
                    return;
                }
            }
        }, CancellationToken.None);
    }

    async Task<bool> TryDeclareAsync(CancellationToken cancellationToken)
    {
        var options = archive.Value;
        try
        {
            await EventArchive.DeclareAsync(bus.Value.RabbitMq, options, cancellationToken);
            logger.LogInformation("Event archive stream {Queue} bound to {Count} event exchanges (max age {MaxAge}, max {MaxLengthBytes} bytes)",
                options.QueueName, EventArchive.EventTypes.Count, options.MaxAge, options.MaxLengthBytes);
            return true;
        }
        catch (OperationInterruptedException error) when (error.ShutdownReason?.ReplyCode == 406)
        {
            throw new InvalidOperationException(
                $"Archive: queue '{options.QueueName}' exists with other arguments than x-queue-type=stream, x-max-age={options.MaxAge}, " +
                $"x-max-length-bytes={options.MaxLengthBytes} ({error.ShutdownReason.ReplyText}); delete it or change Archive:QueueName", error);
        }
        catch (Exception error) when (error is BrokerUnreachableException or OperationInterruptedException or IOException or TimeoutException
                                          or AlreadyClosedException)
        {
            logger.LogWarning("Event archive not declared yet, {Broker} unreachable ({Error}); retrying every {Delay}s",
                bus.Value.RabbitMq.DisplayAddress, error.Message, RetryDelay.TotalSeconds);
            return false;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        if (retry is not null)
            await retry.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => stopping.Dispose();
}
