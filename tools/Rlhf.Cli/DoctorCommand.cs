using System.CommandLine;
using RabbitMQ.Client;
using Rlhf.Modeling;
using StackExchange.Redis;
using static TorchSharp.torch;

namespace Rlhf.Cli;

/// <summary><c>rlhf doctor</c>: checks that TorchSharp computes and that RabbitMQ and Redis answer.</summary>
static class DoctorCommand
{
    public static Command Create()
    {
        var rabbit = new Option<Uri>("--rabbitmq")
        {
            Description = "RabbitMQ address to check",
            DefaultValueFactory = _ => new Uri("amqp://guest:guest@localhost:5672/"),
            CustomParser = RabbitMqAddress.Parse,
        };
        var redis = new Option<string>("--redis")
        {
            Description = "Redis configuration string to check",
            DefaultValueFactory = _ => "localhost:6379",
        };
        var command = new Command("doctor", "Check TorchSharp, RabbitMQ and Redis on this machine.") { rabbit, redis };
        command.SetAction(async (parse, cancel) =>
        {
            var failures = 0;
            failures += await Check("torch", () => Task.FromResult(CheckTorch()));
            failures += await Check("memory", () => Task.FromResult(Rlhf.Hosting.GlibcMalloc.Describe));
            failures += await Check("rabbitmq", () => CheckRabbit(parse.GetValue(rabbit)!, cancel));
            failures += await Check("redis", () => CheckRedis(parse.GetValue(redis)!));
            return failures == 0 ? 0 : 1;
        });
        return command;
    }

    static async Task<int> Check(string name, Func<Task<string>> probe)
    {
        try
        {
            Console.WriteLine($"{name,-9} ok    {await probe()}");
            return 0;
        }
        catch (Exception error)
        {
            Console.WriteLine($"{name,-9} FAIL  {error.GetBaseException().Message}");
            return 1;
        }
    }

    static string CheckTorch()
    {
        using var scope = NewDisposeScope();
        var a = arange(0, 4, dtype: float32).reshape(2, 2);
        var product = a.matmul(a).sum().item<float>(); // [[0,1],[2,3]]^2 = [[2,3],[6,11]], sum 22
        if (product != 22f)
            throw new InvalidOperationException($"matmul returned {product}, expected 22");
        return TorchRuntime.Describe();
    }

    static async Task<string> CheckRabbit(Uri address, CancellationToken cancel)
    {
        await using var connection = await RabbitMqAddress.ConnectAsync(address, "rlhf-doctor", TimeSpan.FromSeconds(3), cancel);
        var version = connection.ServerProperties?.TryGetValue("version", out var v) == true && v is byte[] bytes
            ? System.Text.Encoding.UTF8.GetString(bytes)
            : "unknown";
        return $"{address.Host}:{address.Port} RabbitMQ {version}";
    }

    static async Task<string> CheckRedis(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.ConnectTimeout = 3_000;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        var latency = await connection.GetDatabase().PingAsync();
        return $"{configuration} PING {latency.TotalMilliseconds:F1} ms";
    }
}
