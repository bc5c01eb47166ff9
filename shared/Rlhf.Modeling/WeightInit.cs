namespace Rlhf.Modeling;

/// <summary>
/// Lets a caller that overwrites every weight right after construction skip the random initialisation of the
/// projections (about 80 % of a model's parameters). Generation builds a served copy of the base model per adapter
/// version this way: drawing 100M normal samples costs more than copying the weights that replace them. Per thread,
/// and consumes no random numbers while skipping, so seeded construction elsewhere is unchanged.
/// </summary>
public static class WeightInit
{
    [ThreadStatic] static int skipping;

    /// <summary>True inside <see cref="SkipRandomInit"/> on this thread.</summary>
    public static bool Skipping => skipping > 0;

    /// <summary>Until disposed, projections built on this thread keep uninitialised memory (the caller copies weights in).</summary>
    public static IDisposable SkipRandomInit()
    {
        skipping++;
        return new Scope();
    }

    sealed class Scope : IDisposable
    {
        bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            skipping--;
        }
    }
}
