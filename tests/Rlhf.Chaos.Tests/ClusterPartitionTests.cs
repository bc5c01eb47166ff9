namespace Rlhf.Chaos.Tests;

/// <summary>
/// The partition fault on a real 3-node cluster (scripts/infra.sh cluster partition-node / heal-node): node 1, cut off
/// by mismatched Erlang cookies, pauses as the minority (its AMQP port closes while its VM runs), and resumes after the
/// heal. Opt-in (RLHF_TEST_CLUSTER=1): starting three RabbitMQ nodes takes a minute or more on 2 cores.
/// </summary>
public sealed class ClusterPartitionTests
{
    [Fact]
    public async Task A_partitioned_node_pauses_and_resumes_after_the_heal()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable("RLHF_TEST_CLUSTER") == "1", "set RLHF_TEST_CLUSTER=1 to start a 3-node RabbitMQ cluster");
        var cancel = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("rlhf-partition-").FullName;
        var infrastructure = new ChaosInfrastructure([5882, 5883, 5884], 6489, directory);
        try
        {
            await infrastructure.UpAsync(cancel);
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var closed = WatchClosedAsync(5882, watching.Token);

            await infrastructure.PartitionFirstNodeAsync(downSeconds: 15, cancel);

            await watching.CancelAsync();
            Assert.True(await closed, "node 1 kept its AMQP port open while partitioned (it should pause as the minority)");
            Assert.True(await ChaosInfrastructure.ListensAsync(5882, cancel), "node 1 did not resume after the heal");
            Assert.True(await ChaosInfrastructure.ListensAsync(5883, cancel) && await ChaosInfrastructure.ListensAsync(5884, cancel),
                "the majority side stopped serving");
        }
        finally
        {
            await infrastructure.DownAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    static async Task<bool> WatchClosedAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                if (!await ChaosInfrastructure.ListensAsync(port, cancellationToken))
                    return true;
                await Task.Delay(100, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
