using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

public sealed class FeedbackHostTests() : ServiceHostContract<Program>("rlhf-feedback");
