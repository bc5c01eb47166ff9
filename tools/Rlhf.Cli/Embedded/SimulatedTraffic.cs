using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rlhf.Demo;

namespace Rlhf.Cli.Embedded;

/// <summary>Counters of the simulated chat app.</summary>
public sealed class TrafficStats
{
    public long Requests;
    public long Failures;
    public long FeedbackAccepted;
    public long FeedbackRejected;
    public long CorrectCandidates;
    public long Candidates;
    public long UserThumbs;
    public long CanaryAnswers;

    /// <summary>In thumbs mode: thumbs on single answers, and regenerations (a thumbed-down answer replaced by a kept one).</summary>
    public long Thumbs;
    public long Regenerations;
}

/// <summary>
/// A chat app's users and its labelers, over HTTP exactly as a real client: users ask training questions and get
/// n candidates (POST /v1/chat/completions), labelers judge them by the hidden preference and post a ranking, a rating
/// or a pairwise choice (POST /v1/feedback/*) with the app's API key. A share of users also thumbs the answer they were
/// shown (the first candidate) up or down, as chat apps' users do: the live signal a canary is judged by.
/// With <paramref name="thumbsOnly"/> (<c>rlhf demo --feedback thumbs</c>) the app shows one answer (n = 1) and the
/// judged share of answers gets a single thumb; a thumbed-down answer is regenerated once, the new answer is thumbed
/// too, and when it is kept (thumb up) the app posts the regeneration.
/// </summary>
public sealed class SimulatedTraffic(HttpClient chat, HttpClient feedbackApi, string apiKey, IReadOnlyList<ArithmeticQuestion> questions, SimulatedLabelers labelers,
    int candidates, double temperature, int maxTokens, int seed, double feedbackShare = 1.0, double thumbsShare = 0.0, bool thumbsOnly = false)
{
    /// <summary>One served chat completion: its group id, the user who asked, and its choices.</summary>
    sealed record Served(string GroupId, string User, IReadOnlyList<(string Id, string Text)> Choices);

    public TrafficStats Stats { get; } = new();

    public Task RunAsync(int users, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, users).Select(user => UserAsync(user, cancellationToken)));

    async Task UserAsync(int user, CancellationToken cancellationToken)
    {
        var random = new Random(seed * 1_000 + user);
        while (!cancellationToken.IsCancellationRequested)
        {
            var question = questions[random.Next(questions.Count)];
            try
            {
                await AskAndJudgeAsync(question, random, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error) when (error is HttpRequestException or JsonException or InvalidOperationException)
            {
                Interlocked.Increment(ref Stats.Failures);
                await Task.Delay(500, cancellationToken);
            }
        }
    }

    async Task AskAndJudgeAsync(ArithmeticQuestion question, Random random, CancellationToken cancellationToken)
    {
        var requestSeed = random.NextInt64(1, long.MaxValue / 2); // drawn before the user, as the ranking demo always did
        if (await AskAsync(question, requestSeed, candidates, $"user-{random.Next(1000)}", cancellationToken) is not { } served)
            return;
        var (groupId, user, choices) = (served.GroupId, served.User, served.Choices);
        if (thumbsOnly)
        {
            if (random.NextDouble() < feedbackShare)
                await ThumbAndRegenerateAsync(question, random, served, cancellationToken);
            return;
        }

        if (choices.Count > 0 && random.NextDouble() < thumbsShare && await PostAsync("/v1/feedback/ratings",
                new { rollout_id = choices[0].Id, scale = "thumbs", value = labelers.UserThumb(question, choices[0].Text), rater_id = user }, cancellationToken))
            Interlocked.Increment(ref Stats.UserThumbs);
        if (choices.Count < 2 || random.NextDouble() >= feedbackShare)
            return;

        var feedback = labelers.Judge(question, choices.Select(c => c.Text).ToList());
        var (path, body) = feedback switch
        {
            RankingFeedback r => ("/v1/feedback/rankings", (object)new
            {
                group_id = groupId,
                ranking = r.Tiers.Select(t => t.Select(i => choices[i].Id).ToArray()).ToArray(),
                rater_id = r.RaterId,
            }),
            RatingFeedback r => ("/v1/feedback/ratings", new { rollout_id = choices[r.Candidate].Id, scale = "thumbs", value = r.Thumbs, rater_id = r.RaterId }),
            PairwiseFeedback p => ("/v1/feedback/pairwise", new { group_id = groupId, chosen = choices[p.Chosen].Id, rejected = choices[p.Rejected].Id, rater_id = p.RaterId }),
            _ => throw new InvalidOperationException($"Unknown feedback {feedback.GetType().Name}"),
        };
        var accepted = await PostAsync(path, body, cancellationToken);
        Interlocked.Increment(ref accepted ? ref Stats.FeedbackAccepted : ref Stats.FeedbackRejected);
    }

    /// <summary>POST /v1/chat/completions with <paramref name="n"/> choices; null when the service refused it (counted).</summary>
    async Task<Served?> AskAsync(ArithmeticQuestion question, long requestSeed, int n, string user, CancellationToken cancellationToken)
    {
        var request = new
        {
            model = "rlhf-policy",
            messages = new[] { new { role = "user", content = question.Text } },
            n,
            temperature,
            max_tokens = maxTokens,
            seed = requestSeed,
            user,
        };
        using var response = await chat.PostAsJsonAsync("/v1/chat/completions", request, cancellationToken);
        Interlocked.Increment(ref Stats.Requests);
        if (!response.IsSuccessStatusCode)
        {
            Interlocked.Increment(ref Stats.Failures);
            await Task.Delay(200, cancellationToken);
            return null;
        }

        var completion = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
        var choices = completion["choices"]!.AsArray()
            .Select(c => (Id: c!["rollout_id"]!.GetValue<string>(), Text: c["message"]!["content"]!.GetValue<string>()))
            .ToList();
        Interlocked.Add(ref Stats.Candidates, choices.Count);
        Interlocked.Add(ref Stats.CorrectCandidates, choices.Count(c => ArithmeticTask.IsCorrect(question, c.Text)));
        if (completion["system_fingerprint"]?.GetValue<string>() is { } fingerprint && CanaryFingerprints.ContainsKey(fingerprint))
            Interlocked.Increment(ref Stats.CanaryAnswers);
        return new Served(completion["id"]!.GetValue<string>(), user, choices);
    }

    /// <summary>
    /// Thumbs mode: a thumb on the one answer shown; after a thumb down the user regenerates once, thumbs the new answer,
    /// and when that one is up (kept) the app posts the regeneration (replaced below kept).
    /// </summary>
    async Task ThumbAndRegenerateAsync(ArithmeticQuestion question, Random random, Served served, CancellationToken cancellationToken)
    {
        var first = served.Choices[0];
        var thumb = labelers.JudgeOne(question, first.Text);
        if (!await PostThumbAsync(first.Id, thumb, cancellationToken) || thumb.Thumbs == 1)
            return;
        if (await AskAsync(question, random.NextInt64(1, long.MaxValue / 2), 1, served.User, cancellationToken) is not { } again)
            return;
        var second = again.Choices[0];
        var secondThumb = labelers.JudgeOne(question, second.Text, thumb.RaterId);
        if (!await PostThumbAsync(second.Id, secondThumb, cancellationToken) || secondThumb.Thumbs == 0)
            return;
        var accepted = await PostAsync("/v1/feedback/regenerations",
            new { replaced_rollout_id = first.Id, kept_rollout_id = second.Id, rater_id = thumb.RaterId }, cancellationToken);
        Interlocked.Increment(ref accepted ? ref Stats.FeedbackAccepted : ref Stats.FeedbackRejected);
        if (accepted)
            Interlocked.Increment(ref Stats.Regenerations);
    }

    async Task<bool> PostThumbAsync(string rolloutId, RatingFeedback thumb, CancellationToken cancellationToken)
    {
        var accepted = await PostAsync("/v1/feedback/ratings", new { rollout_id = rolloutId, scale = "thumbs", value = thumb.Thumbs, rater_id = thumb.RaterId },
            cancellationToken);
        Interlocked.Increment(ref accepted ? ref Stats.FeedbackAccepted : ref Stats.FeedbackRejected);
        if (accepted)
            Interlocked.Increment(ref Stats.Thumbs);
        return accepted;
    }

    /// <summary>Fingerprints (<c>policy-vN</c>) of versions on canary; the demo adds them as canaries start.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, bool> CanaryFingerprints { get; } = new();

    async Task<bool> PostAsync(string path, object body, CancellationToken cancellationToken)
    {
        using var post = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        post.Headers.Add("X-Api-Key", apiKey);
        post.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var accepted = await feedbackApi.SendAsync(post, cancellationToken);
        return accepted.IsSuccessStatusCode;
    }
}
