using Microsoft.Extensions.Options;
using Rlhf.Modeling;

namespace Rlhf.Generation.Policy;

/// <summary>Loads the policy before the host starts serving; a broken base checkpoint stops the host.</summary>
sealed class PolicyBootstrapper(PolicyManager manager, IOptions<GenerationOptions> options) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        TorchRuntime.SetThreads(options.Value.Threads);
        return manager.LoadAtStartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
