using Rlhf.Learner;
using Rlhf.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddLearnerService();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapLearnerApi();
app.Run();
