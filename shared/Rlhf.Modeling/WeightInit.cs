namespace Rlhf.Modeling;

/// <summary>
/// Lets a caller that overwrites every weight right after construction skip the random initialisation of the
/// projections (about 80 % of a model's parameters). Generation builds a served copy of the base model per adapter
/// version this way: drawing 100M normal samples costs more than copying the weights that replace them. Per thread,
/// and consumes no random numbers while skipping, so seeded construction elsewhere is unchanged.
/// <see cref="Placeholders"/> goes further for a caller that replaces every tensor (not only its values, see
/// <see cref="WeightSharing"/>): the token embedding is then built with one row, since LibTorch's embedding module
/// draws its own initial values at construction (0.41 s for SmolLM2-135M's 49,152 x 576).
/// </summary>
public static class WeightInit
{
    [ThreadStatic] static int skipping;
    [ThreadStatic] static int placeholders;

    /// <summary>True inside <see cref="SkipRandomInit"/> or <see cref="Placeholders"/> on this thread.</summary>
    public static bool Skipping => skipping > 0;

    /// <summary>True inside <see cref="Placeholders"/> on this thread: tensors may be built at any shape, since each is replaced.</summary>
    public static bool BuildingPlaceholders => placeholders > 0;

    /// <summary>Until disposed, projections built on this thread keep uninitialised memory (the caller copies weights in).</summary>
    public static IDisposable SkipRandomInit()
    {
        skipping++;
        return new Scope(() => skipping--);
    }

    /// <summary>Until disposed, modules built on this thread hold placeholders the caller replaces (<c>set_</c>) one by one.</summary>
    public static IDisposable Placeholders()
    {
        skipping++;
        placeholders++;
        return new Scope(() =>
        {
            placeholders--;
            skipping--;
        });
    }

    sealed class Scope(Action end) : IDisposable
    {
        bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            end();
        }
    }
}
