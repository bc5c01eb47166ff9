namespace Rlhf.Archive;

/// <summary>How far a replay into a broker (<see cref="ReplayPublisher"/>) got; reported after every event.</summary>
/// <param name="Done">Events handled so far (published, unroutable, skipped or failed).</param>
/// <param name="Total">Events selected, once the first pass counted them; null while unknown.</param>
/// <param name="Published">Events the broker confirmed.</param>
/// <param name="Unroutable">Events the broker returned: no queue of the virtual host is bound to their exchange.</param>
/// <param name="Failed">Events that did not match their contract or that the broker did not confirm.</param>
/// <param name="Elapsed">Time since the replay started.</param>
public sealed record ReplayProgress(int Done, int? Total, int Published, int Unroutable, int Failed, TimeSpan Elapsed);
