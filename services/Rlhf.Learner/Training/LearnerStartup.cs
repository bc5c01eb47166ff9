using MassTransit;

namespace Rlhf.Learner.Training;

/// <summary>
/// Starts the learner: the models and the local checkpoint load before the host starts (a broken checkpoint stops
/// it); the part that needs the model registry and the bus runs in the background and is retried until they answer,
/// while batches wait for it.
/// </summary>
sealed class LearnerStartup(LearnerEngine engine, IBus bus, TimeProvider time, ILogger<LearnerStartup> logger) : IHostedService, IDisposable
{
    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    readonly CancellationTokenSource stopping = new();
    Task connecting = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        engine.LoadLocal();
        connecting = ConnectAsync(stopping.Token);
        return Task.CompletedTask;
    }

    async Task ConnectAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await engine.ConnectAsync(bus, cancellationToken);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                logger.LogWarning(error, "The learner cannot reach the model registry or the bus yet; retrying in {Delay}", RetryDelay);
            }

            try
            {
                await Task.Delay(RetryDelay, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // A host disposed before it was stopped (a test factory torn down early) has nothing left to stop.
        if (Volatile.Read(ref disposed))
            return;
        await stopping.CancelAsync();
        await connecting.WaitAsync(cancellationToken);
    }

    public void Dispose()
    {
        Volatile.Write(ref disposed, true);
        stopping.Dispose();
    }

    bool disposed;
}
