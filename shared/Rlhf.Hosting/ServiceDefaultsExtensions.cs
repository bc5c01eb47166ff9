using System.ComponentModel.DataAnnotations;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;
using Rlhf.Hosting.Privacy;
using Rlhf.Hosting.Telemetry;
using Rlhf.Hosting.Tls;
using Rlhf.Archive;
using Rlhf.Storage;
using Serilog;
using Serilog.Formatting.Compact;
using StackExchange.Redis;

namespace Rlhf.Hosting;

/// <summary>What every Rlhf host shares: logging, telemetry, health, message bus, Redis, problem details.</summary>
public static class ServiceDefaultsExtensions
{
    public const string LiveTag = "live";
    public const string ReadyTag = "ready";

    /// <summary>
    /// Registers Serilog, health checks, MassTransit (transport from <c>Bus:Transport</c>), Redis (when
    /// <c>Redis:Configuration</c> is set) and ProblemDetails. Services add their consumers afterwards with
    /// <see cref="AddBusConsumer{TConsumer, TDefinition}"/>. Invalid options stop the host at start with a message
    /// naming the key. <c>Replay:Sandbox=true</c> makes the host a replay sandbox (see <see cref="ReplayOptions"/>): it
    /// refuses the production virtual host and logs a warning at start; the stores then use the sandbox key prefix.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var services = builder.Services;

        var bus = BindAndValidate<BusOptions>(configuration, BusOptions.SectionName);
        Validate(bus.RabbitMq, $"{BusOptions.SectionName}:RabbitMq");
        var redis = BindAndValidate<RedisOptions>(configuration, RedisOptions.SectionName);
        var redisTls = BindAndValidate<TlsOptions>(configuration, TransportSecurity.RedisTlsSection);
        TransportSecurity.Validate(bus, redis, redisTls);
        var log = BindAndValidate<LogOptions>(configuration, LogOptions.SectionName);
        var replay = BindAndValidate<ReplayOptions>(configuration, ReplayOptions.SectionName);
        // Before anything starts LibTorch threads: how glibc keeps freed native memory (process-wide, first host wins).
        GlibcMalloc.Configure(BindAndValidate<NativeMemoryOptions>(configuration, NativeMemoryOptions.SectionName));
        var privacy = configuration.GetSection(PrivacyOptions.SectionName).Get<PrivacyOptions>() ?? new PrivacyOptions();
        if (SandboxGuard.Problems(replay, bus, redis) is { Count: > 0 } sandboxProblems)
            throw new OptionsValidationException(ReplayOptions.SectionName, typeof(ReplayOptions), [.. sandboxProblems]);

        services.AddOptions<BusOptions>().Bind(configuration.GetSection(BusOptions.SectionName)).ValidateOnStart();
        services.AddOptions<RedisOptions>().Bind(configuration.GetSection(RedisOptions.SectionName)).ValidateOnStart();
        services.AddOptions<LogOptions>().Bind(configuration.GetSection(LogOptions.SectionName)).ValidateOnStart();
        services.AddOptions<ReplayOptions>().Bind(configuration.GetSection(ReplayOptions.SectionName)).ValidateOnStart();
        services.AddOptions<NativeMemoryOptions>().Bind(configuration.GetSection(NativeMemoryOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ReplayOptions>, ReplayOptionsValidator>();
        services.TryAddServiceIdentity(new ServiceIdentity(builder.Environment.ApplicationName, "0.0.0"));
        services.AddHostedService<BoundAddressFile>();

        var otlp = TelemetryExtensions.OtlpEndpoint(configuration) is not null;
        builder.AddRlhfTelemetry(redis.IsConfigured);
        services.AddSerilog((provider, logger) =>
        {
            var identity = provider.GetRequiredService<ServiceIdentity>();
            // The levels every service's appsettings.json sets, as defaults that configuration overrides: a service started
            // outside its folder (rlhf up, chaos and the demo run them in a run folder) reads no appsettings.json, and then
            // ASP.NET Core wrote six Information lines per request beside the request log's one (~1 KB per feedback, about a
            // tenth of the feedback service's CPU under load).
            logger.MinimumLevel.Information()
                .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning);
            logger.ReadFrom.Configuration(configuration)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("Service", identity.Name)
                .Enrich.WithProperty("ServiceVersion", identity.Version);
            if (privacy.RedactContent)
                logger.Enrich.With<ContentRedactionEnricher>(); // last: it sees every property the others added
            // The W3C trace id (empty outside a span) ties a line to its trace; correlation ids stay properties (JSON format).
            const string textTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {Service} {Message:lj} {TraceId}{NewLine}{Exception}";
            // Console and file are written by one background thread (Serilog.Sinks.Async), the file buffered and flushed
            // every second: written inline, every request's log line took a lock, a write and a flush on the request's
            // thread (a quarter of the feedback service's CPU under load). A full buffer blocks the caller: no line is dropped.
            logger.WriteTo.Async(sinks =>
            {
                if (log.Console)
                {
                    if (log.Format == LogFormat.Json)
                        sinks.Console(new RenderedCompactJsonFormatter());
                    else
                        sinks.Console(outputTemplate: textTemplate);
                }

                if (!string.IsNullOrWhiteSpace(log.File))
                {
                    if (log.Format == LogFormat.Json)
                        sinks.File(new RenderedCompactJsonFormatter(), log.File, buffered: true, flushToDiskInterval: TimeSpan.FromSeconds(1));
                    else
                        sinks.File(log.File, outputTemplate: textTemplate, buffered: true, flushToDiskInterval: TimeSpan.FromSeconds(1));
                }
            }, bufferSize: 10_000, blockWhenFull: true);
        }, preserveStaticLogger: true, // each host logs through its own logger; see below
            writeToProviders: otlp); // with OTLP on, Serilog events also reach OpenTelemetry's log exporter
        // preserveStaticLogger: without it every host's ILoggerFactory wrote through the process-wide Serilog.Log.Logger,
        // set by whichever host was built last, and disposing any host called Log.CloseAndFlush(), which silenced the
        // others: with several hosts in one process (tests, in-process tools) lines went to another host's file or nowhere.

        // Asked before the default writer, so framework errors on OpenAI-shaped endpoints get OpenAI's envelope.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IProblemDetailsWriter, OpenAiProblemDetailsWriter>());
        services.AddProblemDetails();
        services.AddOperatorKeys(configuration);
        services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);

        // Registered before the archive declaration and the bus: a TLS mismatch stops the host before they connect.
        services.AddTransportPreflight(bus, redis, redisTls);
        if (redis.IsConfigured)
            services.AddRedis(redis, redisTls);

        if (replay.Sandbox)
            services.AddHostedService<SandboxBanner>();
        // The archive tap is declared with the bus settings, before the bus starts, so this host's events are all kept.
        if (configuration.GetValue<bool>($"{EventArchiveOptions.SectionName}:Enabled"))
            builder.AddEventArchive(bus.Transport == BusTransport.RabbitMq
                ? bus.RabbitMq.ArchiveBroker(configuration.GetSection(EventArchiveOptions.SectionName).Get<EventArchiveOptions>() ?? new EventArchiveOptions())
                : null);
        services.AddRlhfBus(bus);
        return builder;
    }

    /// <summary>Sets the name and version this host reports; the last registration wins.</summary>
    public static IHostApplicationBuilder SetServiceIdentity(this IHostApplicationBuilder builder, ServiceIdentity identity)
    {
        builder.Services.AddSingleton(identity);
        return builder;
    }

    /// <summary>
    /// Adds a consumer (with its definition: retry, concurrency) to the bus that <see cref="AddServiceDefaults"/>
    /// registered; its receive endpoint is created by <c>ConfigureEndpoints</c>, named by the definition (see <see cref="QueueNames"/>).
    /// </summary>
    public static IServiceCollection AddBusConsumer<TConsumer, TDefinition>(this IServiceCollection services)
        where TConsumer : class, IConsumer
        where TDefinition : class, IConsumerDefinition<TConsumer>
    {
        MassTransit.Configuration.DependencyInjectionConsumerRegistrationExtensions.RegisterConsumer<TConsumer, TDefinition>(services);
        return services;
    }

    /// <summary>Adds a consumer without a definition (default endpoint settings).</summary>
    public static IServiceCollection AddBusConsumer<TConsumer>(this IServiceCollection services)
        where TConsumer : class, IConsumer
    {
        MassTransit.Configuration.DependencyInjectionConsumerRegistrationExtensions.RegisterConsumer<TConsumer>(services);
        return services;
    }

    /// <summary>
    /// Maps <c>GET /</c> (service name and version), <c>/health/live</c> (process is up) and <c>/health/ready</c>
    /// (bus and Redis reachable and every receive endpoint consuming; 503 naming each failing check), and turns on
    /// request logging and ProblemDetails
    /// for unhandled errors.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<CorrelationIdMiddleware>();
        app.UseSerilogRequestLogging(options =>
        {
            // This host's logger: the static Serilog.Log.Logger is not set (AddServiceDefaults preserves it).
            options.Logger = app.Services.GetRequiredService<Serilog.ILogger>();
            // Health probes every few seconds would drown the log.
            options.GetLevel = (context, _, error) =>
                error is null && context.Response.StatusCode < 500 && context.Request.Path.StartsWithSegments("/health")
                    ? Serilog.Events.LogEventLevel.Verbose
                    : error is null && context.Response.StatusCode < 500
                        ? Serilog.Events.LogEventLevel.Information
                        : Serilog.Events.LogEventLevel.Error;
        });

        app.MapRlhfMetrics();
        app.MapGet("/", (ServiceIdentity identity) => TypedResults.Ok(identity)).ExcludeFromDescription();
        app.MapHealthChecks("/health/live", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(LiveTag),
            ResponseWriter = HealthResponseWriter.WriteAsync,
        });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = HealthResponseWriter.WriteReadyAsync,
        });
        return app;
    }

    static void TryAddServiceIdentity(this IServiceCollection services, ServiceIdentity fallback)
    {
        if (!services.Any(d => d.ServiceType == typeof(ServiceIdentity)))
            services.AddSingleton(fallback);
    }

    static void AddRedis(this IServiceCollection services, RedisOptions redis, TlsOptions tls)
    {
        services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(TransportSecurity.RedisConfiguration(redis, tls)));
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", HealthStatus.Unhealthy, [ReadyTag]);
    }

    static void AddRlhfBus(this IServiceCollection services, BusOptions options)
    {
        services.AddSingleton<LoopMetrics>();
        services.AddMassTransit(x =>
        {
            x.SetKebabCaseEndpointNameFormatter();
            x.AddPublishObserver(provider => provider.GetRequiredService<LoopMetrics>());
            x.AddConsumeObserver(provider => provider.GetRequiredService<LoopMetrics>());
            x.ConfigureHealthCheckOptions(health =>
            {
                health.Name = options.Transport == BusTransport.RabbitMq ? "rabbitmq" : "bus";
                health.MinimalFailureStatus = HealthStatus.Unhealthy;
                health.Tags.Add(ReadyTag);
            });

            if (options.Transport == BusTransport.RabbitMq)
            {
                var rabbit = options.RabbitMq;
                if (rabbit.QuorumQueues)
                {
                    x.AddConfigureEndpointsCallback((_, name, endpoint) =>
                    {
                        // Live-view endpoints (auto-deleted per instance) stay classic: quorum queues cannot auto-delete.
                        if (endpoint is IRabbitMqReceiveEndpointConfigurator queue && !QueueNames.IsLive(name))
                            queue.SetQuorumQueue();
                    });
                }

                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                    {
                        h.Username(rabbit.Username);
                        h.Password(rabbit.Password);
                        h.PublisherConfirmation = true;
                        if (rabbit.Trust() is { } tls)
                            h.UseSsl(ssl =>
                            {
                                ssl.ServerName = rabbit.Tls.ServerName ?? rabbit.Host;
                                ssl.Protocol = System.Security.Authentication.SslProtocols.None; // the OS's choice: TLS 1.2 or 1.3
                                ssl.CertificateValidationCallback = tls.Validate;
                                if (tls.ClientCertificate is { } own)
                                    ssl.Certificate = own;
                            });
                        if (rabbit.ClusterNodes.Length > 0)
                            h.UseCluster(cluster =>
                            {
                                foreach (var node in rabbit.ClusterNodes.Prepend($"{rabbit.Host}:{rabbit.Port}").Distinct(StringComparer.OrdinalIgnoreCase))
                                    cluster.Node(node);
                            });
                    });
                    cfg.PrefetchCount = rabbit.PrefetchCount;
                    cfg.UseConsumeFilter(typeof(CorrelationLogFilter<>), context);
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseConsumeFilter(typeof(CorrelationLogFilter<>), context);
                    cfg.ConfigureEndpoints(context);
                });
            }
        });
    }

    static T BindAndValidate<T>(IConfiguration configuration, string section) where T : class, new()
    {
        var options = new T();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException error)
        {
            throw new OptionsValidationException(section, typeof(T), [$"Configuration section '{section}' is invalid: {error.Message}"]);
        }

        Validate(options, section);
        return options;
    }

    static void Validate(object options, string section)
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
            return;
        var failures = results.Select(r => $"{section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}").ToList();
        throw new OptionsValidationException(section, options.GetType(), failures);
    }
}
