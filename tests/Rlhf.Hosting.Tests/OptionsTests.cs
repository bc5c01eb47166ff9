using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Rlhf.Hosting.Tests;

public sealed class OptionsTests
{
    static void AddDefaults(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
    }

    [Fact]
    public void Unknown_transport_is_rejected_naming_the_section()
    {
        var error = Assert.Throws<OptionsValidationException>(() => AddDefaults(new() { ["Bus:Transport"] = "Kafka" }));

        Assert.Contains("'Bus'", error.Message);
        Assert.Contains("Kafka", error.Message);
    }

    [Fact]
    public void Out_of_range_port_is_rejected_naming_the_key()
    {
        var error = Assert.Throws<OptionsValidationException>(() =>
            AddDefaults(new() { ["Bus:Transport"] = "RabbitMq", ["Bus:RabbitMq:Port"] = "70000" }));

        Assert.Contains("Bus:RabbitMq:Port", error.Message);
    }
}
