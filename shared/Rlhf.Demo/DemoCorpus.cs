using Rlhf.Modeling.Tokenization;
using Rlhf.Training;

namespace Rlhf.Demo;

/// <summary>
/// Token-level views of the demo task for the byte tokenizer and ChatML: chat prompts, the bootstrap's noisy
/// chat demonstrations, the clean plain-text fact documents (also the PTX corpus) and a little small talk.
/// </summary>
public sealed class DemoCorpus
{
    static readonly (string User, string Assistant)[] SmallTalk =
    [
        ("Hi!", "Hello! Ask me a sum."),
        ("Hello", "Hi! What should I compute?"),
        ("Who are you?", "A tiny model that does arithmetic."),
        ("Thanks!", "You're welcome!"),
        ("Can you help me with maths?", "Sure, ask me a sum or a difference."),
        ("Good morning", "Good morning! Any sums today?"),
    ];

    public DemoCorpus(ByteTokenizer tokenizer) => Tokenizer = tokenizer;

    public ByteTokenizer Tokenizer { get; }

    public static ChatTemplate Template => ChatTemplate.ChatMl;

    /// <summary>The assistant turn ends here; generation stops on it.</summary>
    public int EndOfTurnId => Template.EndOfTurnId(Tokenizer);

    /// <summary>Every question of the given facts, in every phrasing.</summary>
    public static IReadOnlyList<ArithmeticQuestion> Questions(IEnumerable<(int A, int B, char Op)> facts) =>
        facts.SelectMany(f => Enumerable.Range(0, ArithmeticTask.PhrasingCount).Select(p => new ArithmeticQuestion(f.A, f.B, f.Op, p))).ToList();

    /// <summary>ChatML prompt of a user message, ending with the assistant header.</summary>
    public IReadOnlyList<int> ChatPrompt(string userMessage) =>
        Tokenizer.Encode(Template.Render([new ChatTurn("user", userMessage)], addGenerationPrompt: true));

    public IReadOnlyList<int> ChatPrompt(ArithmeticQuestion question) => ChatPrompt(question.Text);

    /// <summary>An assistant reply as it is trained on: the text then the end-of-turn token.</summary>
    public IReadOnlyList<int> ChatResponse(string reply) => [.. Tokenizer.Encode(reply), EndOfTurnId];

    /// <summary>A generated reply as text, without the end-of-turn token or anything special.</summary>
    public string DecodeResponse(IReadOnlyList<int> tokens) => Tokenizer.Decode(tokens, skipSpecialTokens: true);

    /// <summary>Plain pretraining text "a op b = c" lines, one per fact, BOS first.</summary>
    public Demonstration FactDocument(IEnumerable<(int A, int B, char Op)> facts)
    {
        var text = ByteTokenizer.BosToken + string.Concat(facts.Select(f => FactLine(f.A, f.B, f.Op) + "\n"));
        return new Demonstration([], Tokenizer.Encode(text));
    }

    public static string FactLine(int a, int b, char op) => $"{a} {op} {b} = {(op == '+' ? a + b : a - b)}";

    /// <summary>The plain-text prefix "a op b = " whose greedy continuation shows whether the model knows the fact.</summary>
    public IReadOnlyList<int> KnowledgeProbe(int a, int b, char op) => Tokenizer.Encode($"{ByteTokenizer.BosToken}{a} {op} {b} = ");

    /// <summary>
    /// A chat demonstration of a noisy demonstrator: with probability <paramref name="wrongShare"/> the answer is off by
    /// one (always +1: a systematic error, which a model can hold as a second "mode" next to the fact, unlike random
    /// errors, which only teach the marginal answer distribution), with probability <paramref name="ramblingShare"/>
    /// the reply rambles.
    /// </summary>
    public Demonstration ChatDemonstration(ArithmeticQuestion question, double wrongShare, double ramblingShare, Random random)
    {
        var result = question.Answer + (random.NextDouble() < wrongShare ? 1 : 0);
        var reply = random.NextDouble() < ramblingShare
            ? ArithmeticTask.RamblingAnswer(question.A, question.B, question.Op, result, random.Next(3))
            : ArithmeticTask.ConciseAnswer(question.A, question.B, question.Op, result);
        return new Demonstration(ChatPrompt(question), ChatResponse(reply));
    }

    public Demonstration SmallTalkDemonstration(Random random)
    {
        var (user, assistant) = SmallTalk[random.Next(SmallTalk.Length)];
        return new Demonstration(ChatPrompt(user), ChatResponse(assistant));
    }

    /// <summary>The PTX corpus: clean fact documents, each holding <paramref name="factsPerDocument"/> random facts.</summary>
    public IPtxSource PtxSource(IReadOnlyList<(int A, int B, char Op)> facts, int factsPerDocument, int batchSize, int seed) =>
        new FactDocumentSource(this, facts, factsPerDocument, batchSize, seed);

    sealed class FactDocumentSource(DemoCorpus corpus, IReadOnlyList<(int A, int B, char Op)> facts, int factsPerDocument, int batchSize, int seed)
        : IPtxSource
    {
        readonly Random random = new(seed);

        public IReadOnlyList<Demonstration> NextBatch() =>
            Enumerable.Range(0, batchSize)
                .Select(_ => corpus.FactDocument(Enumerable.Range(0, factsPerDocument).Select(_ => facts[random.Next(facts.Count)])))
                .ToList();
    }
}
