namespace Rlhf.Contracts;

/// <summary>
/// Ratings the feedback service accepted together (group commit): the ratings that arrived while its previous publish
/// was in flight travel as one broker message, published and confirmed once, instead of one message each. It carries
/// <see cref="RatingSubmitted"/> events, it is not an event of its own: consumers handle each rating as if it had come
/// alone, and the archive's readers, the dashboard and the event log unpack it (<see cref="EventTypes.Carriers"/>).
/// Every <see cref="RatingSubmitted"/> consumer also consumes this, so either form can be on the wire
/// (<c>Feedback:RatingBatchLimit</c> 0 publishes the single form, as before group commit).
/// </summary>
/// <param name="Ratings">One or more ratings, in the order the feedback service accepted them.</param>
public sealed record RatingsSubmitted(IReadOnlyList<CarriedRating> Ratings)
{
    /// <summary>The ratings as separate events, in order, each with the message and correlation id it had on its own.</summary>
    public IEnumerable<RatingSubmitted> Events => Ratings.Select(r => r.Rating);
}

/// <summary>One rating of a <see cref="RatingsSubmitted"/> and the correlation id of the request that submitted it (its
/// message id is its <see cref="RatingSubmitted.FeedbackId"/>, as when it is published alone).</summary>
public sealed record CarriedRating(RatingSubmitted Rating, Guid? CorrelationId);
