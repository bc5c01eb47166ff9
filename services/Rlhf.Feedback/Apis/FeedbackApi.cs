using Rlhf.Contracts;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>/v1/feedback/*</c>: every endpoint needs an <c>X-Api-Key</c>, takes an optional <c>Idempotency-Key</c>, answers
/// 202 <c>{"feedback_id": "...", "status": "accepted"}</c> once the broker confirmed the event, and a ProblemDetails
/// otherwise (400 body unreadable, 401 key, 409 conflict, 413 too large, 415 not JSON, 422 invalid feedback,
/// 429 rater over the rate limit, 503 broker or store unavailable).
/// </summary>
public static class FeedbackApi
{
    public static RouteGroupBuilder MapFeedbackEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/feedback")
            .AddEndpointFilter<FeedbackMetricsFilter>()
            .AddEndpointFilter<ApiKeyFilter>()
            .WithTags("Feedback");
        api.MapPost("/rankings", SubmitRanking);
        api.MapPost("/ratings", SubmitRating);
        api.MapPost("/pairwise", SubmitPairwise);
        api.MapPost("/demonstrations", SubmitDemonstration);
        api.MapPost("/regenerations", SubmitRegeneration);
        api.MapPost("/edits", SubmitEdit);
        api.MapPost("/comments", SubmitComment);
        return api;
    }

    static Task<IResult> SubmitRanking(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<RankingRequest, RankingSubmitted>(http);

    static Task<IResult> SubmitRating(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<RatingRequest, RatingSubmitted>(http);

    static Task<IResult> SubmitPairwise(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<PairwiseRequest, RankingSubmitted>(http);

    static Task<IResult> SubmitDemonstration(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<DemonstrationRequest, DemonstrationSubmitted>(http);

    static Task<IResult> SubmitRegeneration(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<RegenerationRequest, RegenerationSubmitted>(http);

    static Task<IResult> SubmitEdit(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<EditRequest, DemonstrationSubmitted>(http);

    static Task<IResult> SubmitComment(HttpContext http, FeedbackIntake intake) =>
        intake.SubmitAsync<CommentRequest, CommentSubmitted>(http);
}
