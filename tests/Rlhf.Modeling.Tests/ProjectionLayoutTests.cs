using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

/// <summary>Projection keeps HF's [out, in] weight but stores it column-major, without changing what a seed draws.</summary>
public sealed class ProjectionLayoutTests
{
    [Fact]
    public void Weight_is_out_by_in_with_column_major_strides_and_the_row_major_draw_of_the_seed()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        using var projection = new Projection(6, 4, hasBias: false);
        random.manual_seed(21);
        var expected = empty(4, 6);
        nn.init.normal_(expected, 0, 0.02);

        Assert.Equal([4L, 6L], projection.Weight.shape);
        Assert.Equal([1L, 4L], projection.Weight.stride());
        Assert.True(projection.Weight.is_leaf);
        Assert.True(projection.Weight.equal(expected).all().item<bool>());
    }

    [Fact]
    public void Training_and_copying_keep_the_layout_and_the_math()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(22);
        using var projection = new Projection(8, 5, hasBias: true);
        var reference = projection.Weight.detach().contiguous().clone();
        var x = randn(3, 8);

        var y = projection.call(x);
        Assert.True(y.allclose(nn.functional.linear(x, reference, projection.Bias!.detach()), rtol: 1e-5, atol: 1e-6));
        y.square().sum().backward();
        using var optimizer = optim.AdamW(projection.parameters(), lr: 0.01);
        optimizer.step();
        using (no_grad())
            projection.Weight.copy_(reference);

        Assert.Equal([1L, 5L], projection.Weight.stride());
        Assert.Equal([1L, 5L], projection.Weight.grad!.stride());
        Assert.True(projection.Weight.equal(reference).all().item<bool>());
    }
}
