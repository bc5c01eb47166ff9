using Rlhf.Testing;

namespace Rlhf.Dashboard.Tests;

public sealed class DashboardHostTests() : ServiceHostContract<Program>("rlhf-dashboard");
