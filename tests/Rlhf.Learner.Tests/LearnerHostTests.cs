using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

public sealed class LearnerHostTests() : ServiceHostContract<Program>("rlhf-learner");
