using System.Text.RegularExpressions;

namespace Rlhf.Modeling.Tests;

/// <summary>
/// Every tensor the models, trainers and services create is placed through the configured device (the <c>Device</c>
/// option of generation, reward and learner, resolved by <see cref="TorchRuntime.SelectDevice"/>), so a GPU is a
/// configuration change on a CUDA build. No CUDA runtime is served to these machines, and PyTorch's "meta" device
/// lacks kernels the forward uses (index_select), so the rule is checked on the source: a tensor factory
/// (<c>tensor</c>, <c>zeros</c>, <c>ones</c>, <c>arange</c>, <c>randn</c>, <c>empty</c>, <c>full</c>...) must name
/// <c>device:</c>, and only <see cref="TorchRuntime"/> may name a device type. The allowed exceptions are listed with why.
/// </summary>
public sealed partial class DevicePlacementTests
{
    /// <summary>CPU on purpose: file and checkpoint I/O happen in host memory, then copy_ places them.</summary>
    static readonly string[] HostMemoryOnPurpose =
    [
        "shared/Rlhf.Modeling/Checkpoints/SafeTensors.cs",   // decodes file bytes; parameters copy_ from it
        "shared/Rlhf.Modeling/Checkpoints/SafeTensorsInMemory.cs",   // the same, from a blob's bytes
        "shared/Rlhf.Training/ModelOptimizer.cs",            // optimizer step counters written to a checkpoint
        "shared/Rlhf.Training/PpoTrainer.cs",                // the minibatch shuffle generator (indices only)
        "shared/Rlhf.Modeling/TorchRuntime.cs",              // the one place devices are chosen
    ];

    [GeneratedRegex(@"(?<![\w.])(tensor|zeros|ones|arange|randn|rand|randint|randperm|empty|full|eye|linspace)\(")]
    private static partial Regex Factory();

    [GeneratedRegex(@"(?<![\w.""])(CPU|CUDA)(?![\w""])|DeviceType\.(CPU|CUDA)|""cuda""|""cpu""")]
    private static partial Regex HardCodedDevice();

    [Fact]
    public void Tensor_factories_name_a_device_and_only_the_runtime_names_device_types()
    {
        var root = RepositoryRoot();
        var offences = new List<string>();
        foreach (var folder in new[] { "shared/Rlhf.Modeling", "shared/Rlhf.Training", "services" })
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
                if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal)
                    || HostMemoryOnPurpose.Contains(relative))
                    continue;
                var lines = File.ReadAllLines(file);
                for (var i = 0; i < lines.Length; i++)
                {
                    var code = lines[i].Split("//")[0];
                    if (code.TrimStart().StartsWith("///", StringComparison.Ordinal) || code.TrimStart().StartsWith('*'))
                        continue;
                    // A call may wrap: look for device: up to the statement's end.
                    var statement = string.Join(" ", lines.Skip(i).Take(4)).Split(';')[0];
                    if (Factory().IsMatch(code) && !statement.Contains("device:", StringComparison.Ordinal) && !statement.Contains("device)", StringComparison.Ordinal))
                        offences.Add($"{relative}:{i + 1}: tensor factory without device: {lines[i].Trim()}");
                    if (HardCodedDevice().IsMatch(code) && !code.Contains("RegularExpression", StringComparison.Ordinal))
                        offences.Add($"{relative}:{i + 1}: hard-coded device: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(offences.Count == 0, string.Join("\n", offences));
    }

    [Fact]
    public void The_check_finds_a_factory_without_a_device_and_a_hard_coded_device()
    {
        Assert.Matches(Factory(), "var mask = zeros(b, 1, t, s);");
        Assert.DoesNotMatch(Factory(), "var x = logits.zeros_like();");
        Assert.Matches(HardCodedDevice(), "var m = new CausalLM(config, CUDA);");
        Assert.Matches(HardCodedDevice(), "x.to(DeviceType.CPU)");
        Assert.DoesNotMatch(HardCodedDevice(), "var device = model.Device;");
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("auto")]
    public void Device_option_values_resolve(string value) =>
        Assert.Equal(TorchSharp.DeviceType.CPU, TorchRuntime.SelectDevice(value).type);

    [Fact]
    public void A_cuda_device_index_is_refused_on_a_cpu_build_and_nonsense_is_named()
    {
        if (TorchSharp.torch.cuda.is_available())
            return; // a CUDA build: covered by the runtime tests
        var missing = Assert.Throws<InvalidOperationException>(() => TorchRuntime.SelectDevice("cuda:1"));
        Assert.Contains("cuda:1", missing.Message);
        Assert.Contains("cuda:N", Assert.Throws<ArgumentException>(() => TorchRuntime.SelectDevice("cuda:x")).Message);
        Assert.Matches(TorchRuntime.DevicePattern, "cuda:0");
        Assert.DoesNotMatch(TorchRuntime.DevicePattern, "gpu");
    }

    static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Services.sln")))
                return directory.FullName;
        throw new InvalidOperationException("Services.sln not found above the test assembly.");
    }
}
