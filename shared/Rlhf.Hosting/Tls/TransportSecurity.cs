using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Hosting.Tls;

/// <summary>
/// How the service defaults apply <see cref="TlsOptions"/>: validation as the host is built, the Redis client's TLS,
/// and the <see cref="TransportPreflight"/> probes (the bus's TLS is set where the bus is, in <see cref="ServiceDefaultsExtensions"/>).
/// </summary>
public static class TransportSecurity
{
    /// <summary>The configuration section of Redis's TLS settings (<see cref="TlsOptions"/>).</summary>
    public const string RedisTlsSection = $"{RedisOptions.SectionName}:Tls";

    /// <summary>The StackExchange.Redis options of a host: <c>Redis:Configuration</c> with <c>Redis:Tls</c> applied.</summary>
    public static ConfigurationOptions RedisConfiguration(RedisOptions redis, TlsOptions tls)
    {
        var options = ConfigurationOptions.Parse(redis.Configuration!);
        // Start even when Redis is down: readiness reports it, and the multiplexer reconnects by itself.
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2_000;
        if (!tls.Enabled && !options.Ssl)
            return options;
        options.Ssl = true;
        if (!string.IsNullOrWhiteSpace(tls.ServerName))
            options.SslHost = tls.ServerName;
        var trust = new TlsTrust(tls);
        options.CertificateValidation += trust.Validate;
        if (trust.ClientCertificate is { } own)
            options.CertificateSelection += (_, _, _, _, _) => own;
        return options;
    }

    /// <summary>TLS is on for Redis when <c>Redis:Tls:Enabled</c> says so or the configuration string has <c>ssl=true</c>.</summary>
    static bool RedisTlsOn(RedisOptions redis, TlsOptions tls) =>
        tls.Enabled || (redis.IsConfigured && ConfigurationOptions.Parse(redis.Configuration!).Ssl);

    /// <summary>TLS settings that cannot work stop the host as it is built (<see cref="TlsOptions.Problems"/>), naming each key.</summary>
    public static void Validate(BusOptions bus, RedisOptions redis, TlsOptions redisTls)
    {
        var busSection = $"{BusOptions.SectionName}:RabbitMq:Tls";
        var problems = bus.RabbitMq.Tls.Problems(busSection, bus.RabbitMq.Tls.Enabled).ToList();
        problems.AddRange(redisTls.Problems(RedisTlsSection, RedisTlsOn(redis, redisTls)));
        if (problems.Count > 0)
            throw new OptionsValidationException(busSection, typeof(TlsOptions), problems);
    }

    /// <summary>
    /// Registers <see cref="TransportPreflight"/> with one probe of the broker (RabbitMQ transport; with ClusterNodes,
    /// the first node) and one per Redis endpoint (when configured).
    /// </summary>
    public static void AddTransportPreflight(this IServiceCollection services, BusOptions bus, RedisOptions redis, TlsOptions redisTls)
    {
        var probes = new List<TransportProbe>();
        if (bus.Transport == BusTransport.RabbitMq)
        {
            var rabbit = bus.RabbitMq;
            probes.Add(new TransportProbe($"{BusOptions.SectionName}:RabbitMq:Tls", rabbit.Host, rabbit.Port, PlainProtocol.Amqp, rabbit.Trust(),
                rabbit.Tls.ServerName));
        }

        if (redis.IsConfigured)
        {
            var options = ConfigurationOptions.Parse(redis.Configuration!);
            var trust = RedisTlsOn(redis, redisTls) ? new TlsTrust(redisTls) : null;
            var serverName = string.IsNullOrWhiteSpace(redisTls.ServerName) ? options.SslHost : redisTls.ServerName;
            foreach (var endpoint in options.EndPoints)
            {
                (string? host, int port) = endpoint switch
                {
                    System.Net.DnsEndPoint dns => (dns.Host, dns.Port),
                    System.Net.IPEndPoint ip => (ip.Address.ToString(), ip.Port),
                    _ => (null, 0),
                };
                if (host is not null)
                    probes.Add(new TransportProbe(RedisTlsSection, host, port == 0 ? (trust is null ? 6379 : 6380) : port, PlainProtocol.Redis, trust,
                        string.IsNullOrWhiteSpace(serverName) ? null : serverName));
            }
        }

        if (probes.Count == 0)
            return;
        foreach (var probe in probes)
            services.AddSingleton(probe);
        services.AddHostedService<TransportPreflight>();
    }
}
