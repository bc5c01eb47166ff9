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

    /// <summary>
    /// Clean plain pretraining text, BOS first, one item per fact: a bare fact line "7 + 5 = 12" or, with probability
    /// <paramref name="qaShare"/>, a question with its correct answer ("Q: What is 7 + 5?\nA: 7 + 5 = 12."), the knowledge in
    /// the form chat uses.
    /// </summary>
    public Demonstration FactDocument(IEnumerable<(int A, int B, char Op)> facts, double qaShare = 0, Random? random = null) =>
        new([], Tokenizer.Encode(FactDocumentText(facts, qaShare, random)));

    /// <summary>The text of <see cref="FactDocument"/> (with the BOS marker), e.g. for a learner's PTX corpus file.</summary>
    public static string FactDocumentText(IEnumerable<(int A, int B, char Op)> facts, double qaShare = 0, Random? random = null) =>
        ByteTokenizer.BosToken + string.Concat(facts.Select(f =>
        {
            if (random is null || random.NextDouble() >= qaShare)
                return FactLine(f.A, f.B, f.Op) + "\n";
            var question = new ArithmeticQuestion(f.A, f.B, f.Op, random.Next(ArithmeticTask.PhrasingCount));
            return $"Q: {question.Text}\nA: {ArithmeticTask.ConciseAnswer(question, question.Answer)}\n";
        }));

    /// <summary>Writes <paramref name="documents"/> clean fact documents as JSONL (<c>{"text": ...}</c>): a PTX corpus.</summary>
    public static void WritePtxCorpus(string path, IReadOnlyList<(int A, int B, char Op)> facts, int documents, int factsPerDocument, double qaShare, int seed)
    {
        var random = new Random(seed);
        using var writer = new StreamWriter(path);
        for (var i = 0; i < documents; i++)
        {
            var chosen = Enumerable.Range(0, factsPerDocument).Select(_ => facts[random.Next(facts.Count)]).ToList();
            writer.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { text = FactDocumentText(chosen, qaShare, random) }));
        }
    }

    public static string FactLine(int a, int b, char op) => $"{a} {op} {b} = {(op == '+' ? a + b : a - b)}";

    /// <summary>The plain-text prefix "a op b = " whose greedy continuation shows whether the model knows the fact.</summary>
    public IReadOnlyList<int> KnowledgeProbe(ArithmeticQuestion question) => Tokenizer.Encode($"{ByteTokenizer.BosToken}{question.A} {question.Op} {question.B} = ");

    /// <summary>
    /// A chat demonstration by one of two demonstrators. The careful one (probability 1 - <paramref name="sloppyShare"/>)
    /// answers concisely and right: "7 + 5 = 12.". The sloppy one rambles and, with probability
    /// <paramref name="misreadShare"/>, misreads the second number by one, then computes the misread equation right:
    /// "Hmm, I think 7 + 6 = 13." A systematic error, which a model holds as a second "mode" (random wrong results would
    /// only teach the marginal answer distribution), and one whose mode shows in the reply's style.
    /// </summary>
    public Demonstration ChatDemonstration(ArithmeticQuestion question, double sloppyShare, double misreadShare, Random random)
    {
        if (random.NextDouble() >= sloppyShare)
            return new Demonstration(ChatPrompt(question), ChatResponse(ArithmeticTask.ConciseAnswer(question, question.Answer)));
        var written = random.NextDouble() < misreadShare ? ArithmeticTask.Misread(question) ?? question : question;
        return new Demonstration(ChatPrompt(question), ChatResponse(ArithmeticTask.RamblingAnswer(written, written.Answer, random.Next(3))));
    }

    public Demonstration SmallTalkDemonstration(Random random)
    {
        var (user, assistant) = SmallTalk[random.Next(SmallTalk.Length)];
        return new Demonstration(ChatPrompt(user), ChatResponse(assistant));
    }

    /// <summary>The PTX corpus: clean fact documents, each holding <paramref name="factsPerDocument"/> random facts.</summary>
    public IPtxSource PtxSource(IReadOnlyList<(int A, int B, char Op)> facts, int factsPerDocument, double qaShare, int batchSize, int seed) =>
        new FactDocumentSource(this, facts, factsPerDocument, qaShare, batchSize, seed);

    sealed class FactDocumentSource(
        DemoCorpus corpus, IReadOnlyList<(int A, int B, char Op)> facts, int factsPerDocument, double qaShare, int batchSize, int seed) : IPtxSource
    {
        readonly Random random = new(seed);

        public IReadOnlyList<Demonstration> NextBatch() =>
            Enumerable.Range(0, batchSize)
                .Select(_ => corpus.FactDocument(Enumerable.Range(0, factsPerDocument).Select(_ => facts[random.Next(facts.Count)]).ToList(), qaShare, random))
                .ToList();
    }
}
