namespace Rlhf.Training.Tests;

/// <summary>Cycles through a fixed corpus in batches, as a PTX source.</summary>
sealed class PtxCorpus(IReadOnlyList<Demonstration> corpus, int batchSize) : IPtxSource
{
    int position;

    public IReadOnlyList<Demonstration> NextBatch()
    {
        var batch = Enumerable.Range(0, batchSize).Select(i => corpus[(position + i) % corpus.Count]).ToList();
        position = (position + batchSize) % corpus.Count;
        return batch;
    }
}
