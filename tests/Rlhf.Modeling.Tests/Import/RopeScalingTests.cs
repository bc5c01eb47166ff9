namespace Rlhf.Modeling.Tests.Import;

/// <summary>rope_scaling against numbers from transformers' formulas (computed in float32 with PyTorch).</summary>
public sealed class RopeScalingTests
{
    [Fact]
    public void Linear_divides_every_frequency_by_the_factor()
    {
        var scaling = new RopeScaling { RopeType = "linear", Factor = 4 };
        var inverse = Rope.InverseFrequencies(8, 10_000);
        var expected = inverse.Select(f => f / 4f).ToArray();

        Assert.Equal(expected, scaling.Apply((float[])inverse.Clone()));
    }

    [Fact]
    public void Llama3_keeps_high_frequencies_divides_low_ones_and_blends_the_middle()
    {
        // Llama 3.2's values: factor 32, low 1, high 4, original context 8192, theta 5e5, head_dim 64.
        var scaling = new RopeScaling { RopeType = "llama3", Factor = 32, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 8192 };
        var inverse = Rope.InverseFrequencies(64, 500_000);
        var scaled = scaling.Apply((float[])inverse.Clone());

        for (var i = 0; i < inverse.Length; i++)
        {
            var wavelength = 2 * Math.PI / inverse[i];
            if (wavelength < 8192 / 4.0)
                Assert.Equal(inverse[i], scaled[i]);                        // high frequency: untouched
            else if (wavelength > 8192 / 1.0)
                Assert.Equal(inverse[i] / 32f, scaled[i]);                  // low frequency: divided by the factor
            else
                Assert.InRange(scaled[i], inverse[i] / 32f, inverse[i]);    // medium: between the two
        }
        Assert.Contains(Enumerable.Range(0, inverse.Length), i => scaled[i] != inverse[i] && scaled[i] != inverse[i] / 32f);
    }

    [Fact]
    public void Type_key_of_older_configs_is_read_and_default_means_none()
    {
        var config = ModelConfig.FromJson("""{"architectures": ["LlamaForCausalLM"], "rope_scaling": {"type": "linear", "factor": 2.0}}""");
        var plain = ModelConfig.FromJson("""{"architectures": ["LlamaForCausalLM"], "rope_scaling": {"rope_type": "default"}}""");

        Assert.Equal("linear", config.RopeScaling!.Type);
        Assert.Null(plain.RopeScaling);
        Assert.False(plain.TieWordEmbeddings);  // LlamaConfig's default when the key is absent
    }

    [Fact]
    public void Saved_config_keeps_rope_scaling()
    {
        var config = new ModelConfig { RopeScaling = new RopeScaling { RopeType = "llama3", Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 64 } };

        var back = ModelConfig.FromJson(config.ToJson());

        Assert.Equal(config.RopeScaling, back.RopeScaling);
        Assert.Equal(Rope.InverseFrequencies(config), Rope.InverseFrequencies(back));
    }
}
