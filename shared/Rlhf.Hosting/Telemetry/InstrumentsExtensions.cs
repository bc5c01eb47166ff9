using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Rlhf.Hosting.Telemetry;

/// <summary>Registers a service's instruments class so that it exists from the start (observable gauges report only once created).</summary>
public static class InstrumentsExtensions
{
    public static IServiceCollection AddInstruments<TInstruments>(this IServiceCollection services) where TInstruments : class
    {
        services.AddSingleton<TInstruments>();
        services.AddHostedService<InstrumentsActivator<TInstruments>>();
        return services;
    }

    /// <summary>Its only job is to be constructed at start, which creates the instruments it is given.</summary>
    sealed class InstrumentsActivator<TInstruments>(TInstruments instruments) : IHostedService where TInstruments : class
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(instruments);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
