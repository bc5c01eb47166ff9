using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>Registers the stores a service uses: Redis when configured, otherwise in-memory twins.</summary>
public static class StorageServiceExtensions
{
    /// <summary>
    /// Binds and validates the <c>Storage</c> section (at start) and registers <see cref="IRolloutStore"/>,
    /// <see cref="IClaimStore"/>, <see cref="IIdempotencyStore"/>, <see cref="IModelRegistry"/>, <see cref="IFeedbackJournal"/>,
    /// <see cref="IPendingRolloutQueue"/>, <see cref="ICommentStore"/>, <see cref="IErasureStore"/>, <see cref="ILiveFeedbackStore"/>, <see cref="IAlarmWindowStore"/> and
    /// <see cref="IBlobStore"/> as singletons. Redis backs them when <c>Storage:Kind</c> is <c>Redis</c>, or when it
    /// is unset and <c>Redis:Configuration</c> is set (the multiplexer comes from <c>AddServiceDefaults</c>; keys start
    /// with <c>Redis:KeyPrefix</c>, or the sandbox prefix under <c>Replay:Sandbox</c>); otherwise they live in process
    /// memory. Blobs go to the file system when <c>Storage:BlobDirectory</c> is set (its <c>sandbox</c> subfolder in a
    /// sandbox). Safe to call more than once (the embedded host calls it once per service); a store registered before
    /// the first call is kept, which is how one process can share its own instances.
    /// </summary>
    public static IHostApplicationBuilder AddStorage(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(StorageRegistration)))
            return builder;
        services.AddSingleton<StorageRegistration>();

        services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (!services.Any(d => d.ServiceType == typeof(IConfigureOptions<RedisOptions>)))
            services.AddOptions<RedisOptions>().Bind(builder.Configuration.GetSection(RedisOptions.SectionName));
        if (!services.Any(d => d.ServiceType == typeof(IConfigureOptions<ReplayOptions>)))
            services.AddOptions<ReplayOptions>().Bind(builder.Configuration.GetSection(ReplayOptions.SectionName));
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);

        services.TryAddSingleton<IRolloutStore>(sp => Create<IRolloutStore>(sp,
            (redis, prefix, options) => new RedisRolloutStore(redis, prefix, options.RolloutTtl),
            (time, options) => new InMemoryRolloutStore(options.RolloutTtl, time)));
        services.TryAddSingleton<IClaimStore>(sp => Create<IClaimStore>(sp,
            (redis, prefix, _) => new RedisClaimStore(redis, prefix),
            (time, _) => new InMemoryClaimStore(time)));
        services.TryAddSingleton<IIdempotencyStore>(sp => Create<IIdempotencyStore>(sp,
            (redis, prefix, options) => new RedisIdempotencyStore(redis, prefix, options.IdempotencyTtl, options.IdempotencyLease),
            (time, options) => new InMemoryIdempotencyStore(options.IdempotencyTtl, time, options.IdempotencyLease)));
        services.TryAddSingleton<IModelRegistry>(sp => Create<IModelRegistry>(sp,
            (redis, prefix, _) => new RedisModelRegistry(redis, prefix),
            (_, _) => new InMemoryModelRegistry()));
        services.TryAddSingleton<IFeedbackJournal>(sp => Create<IFeedbackJournal>(sp,
            (redis, prefix, _) => new RedisFeedbackJournal(redis, prefix, sp.GetRequiredService<TimeProvider>()),
            (time, _) => new InMemoryFeedbackJournal(time)));
        services.TryAddSingleton<ILiveFeedbackStore>(sp => Create<ILiveFeedbackStore>(sp,
            (redis, prefix, options) => new RedisLiveFeedbackStore(redis, prefix, options.LiveFeedbackTtl),
            (_, _) => new InMemoryLiveFeedbackStore()));
        services.TryAddSingleton<IAlarmWindowStore>(sp => Create<IAlarmWindowStore>(sp,
            (redis, prefix, _) => new RedisAlarmWindowStore(redis, prefix),
            (_, _) => new InMemoryAlarmWindowStore()));
        services.TryAddSingleton<ICommentStore>(sp => Create<ICommentStore>(sp,
            (redis, prefix, _) => new RedisCommentStore(redis, prefix),
            (_, _) => new InMemoryCommentStore()));
        services.TryAddSingleton<IErasureStore>(sp => Create<IErasureStore>(sp,
            (redis, prefix, _) => new RedisErasureStore(redis, prefix),
            (_, _) => new InMemoryErasureStore()));
        services.TryAddSingleton<IPendingRolloutQueue>(sp => Create<IPendingRolloutQueue>(sp,
            (redis, prefix, _) => new RedisPendingRolloutQueue(redis, prefix),
            (_, _) => new InMemoryPendingRolloutQueue()));
        services.TryAddSingleton<IBlobStore>(sp =>
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.BlobDirectory is { } directory && !string.IsNullOrWhiteSpace(directory)
                ? new FileSystemBlobStore(sp.GetRequiredService<IOptions<ReplayOptions>>().Value.Sandbox
                    ? Path.Combine(directory, ReplayOptions.BlobSubdirectory)
                    : directory)
                : Create<IBlobStore>(sp,
                    (redis, prefix, options) => new RedisBlobStore(redis, prefix, options.BlobChunkBytes),
                    (_, _) => new InMemoryBlobStore()));
        return builder;
    }

    /// <summary>The store kind the options select: <see cref="StorageOptions.Kind"/>, else Redis when it is configured.</summary>
    public static StoreKind EffectiveKind(StorageOptions storage, RedisOptions redis) =>
        storage.Kind ?? (redis.IsConfigured ? StoreKind.Redis : StoreKind.InMemory);

    static T Create<T>(
        IServiceProvider services,
        Func<IConnectionMultiplexer, string, StorageOptions, T> redis,
        Func<TimeProvider, StorageOptions, T> inMemory)
    {
        var storage = services.GetRequiredService<IOptions<StorageOptions>>().Value;
        var redisOptions = services.GetRequiredService<IOptions<RedisOptions>>().Value;
        if (EffectiveKind(storage, redisOptions) == StoreKind.InMemory)
            return inMemory(services.GetRequiredService<TimeProvider>(), storage);
        var multiplexer = services.GetService<IConnectionMultiplexer>()
            ?? throw new InvalidOperationException(
                "Storage:Kind is Redis but no IConnectionMultiplexer is registered: call AddServiceDefaults() with Redis:Configuration set.");
        return redis(multiplexer, services.GetRequiredService<IOptions<ReplayOptions>>().Value.KeyPrefixFor(redisOptions), storage);
    }

    /// <summary>Marks that <see cref="AddStorage"/> ran, so later calls change nothing.</summary>
    sealed class StorageRegistration;

    sealed class StorageOptionsValidator(IOptions<RedisOptions> redis) : IValidateOptions<StorageOptions>
    {
        public ValidateOptionsResult Validate(string? name, StorageOptions options)
        {
            var failures = new List<string>();
            if (options.LiveFeedbackTtl < TimeSpan.FromSeconds(1))
                failures.Add($"{StorageOptions.SectionName}:{nameof(options.LiveFeedbackTtl)} must be at least one second (got {options.LiveFeedbackTtl}).");
            if (options.RolloutTtl <= TimeSpan.Zero)
                failures.Add($"{StorageOptions.SectionName}:{nameof(options.RolloutTtl)} must be positive (got {options.RolloutTtl}).");
            if (options.Retention.Comments is { } comments && comments <= TimeSpan.Zero)
                failures.Add($"{StorageOptions.SectionName}:Retention:Comments must be positive when set (got {comments}).");
            if (options.Retention.Journal is { } journal && journal <= TimeSpan.Zero)
                failures.Add($"{StorageOptions.SectionName}:Retention:Journal must be positive when set (got {journal}).");
            if (options.Retention.SweepInterval < TimeSpan.FromSeconds(1))
                failures.Add($"{StorageOptions.SectionName}:Retention:SweepInterval must be at least one second (got {options.Retention.SweepInterval}).");
            if (options.IdempotencyTtl <= TimeSpan.Zero)
                failures.Add($"{StorageOptions.SectionName}:{nameof(options.IdempotencyTtl)} must be positive (got {options.IdempotencyTtl}).");
            if (options.Kind == StoreKind.Redis && !redis.Value.IsConfigured)
                failures.Add($"{StorageOptions.SectionName}:{nameof(options.Kind)} is Redis but {RedisOptions.SectionName}:{nameof(RedisOptions.Configuration)} is empty.");
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
