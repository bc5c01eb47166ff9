namespace Rlhf.Contracts;

/// <summary>Kind of scale a rating was given on.</summary>
public enum RatingScale
{
    /// <summary>Thumbs: 0 = down, 1 = up.</summary>
    Thumbs,

    /// <summary>Stars: 1 (worst) to 5 (best).</summary>
    Stars,
}
