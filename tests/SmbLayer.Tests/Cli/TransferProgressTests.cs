using SmbLayer.Cli;

namespace SmbLayer.Tests.Cli;

public class TransferProgressTests
{
    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1023, "1023 B")]
    [InlineData(1536, "1.5 KiB")]
    [InlineData(10L * 1024 * 1024, "10.0 MiB")]
    [InlineData(3L * 1024 * 1024 * 1024, "3.0 GiB")]
    public void FormatBytes_UsesBinaryUnits(long bytes, string expected)
    {
        Assert.Equal(expected, TransferProgress.FormatBytes(bytes));
    }

    [Fact]
    public void Format_WithTotal_ShowsBarPercentBytesAndRate()
    {
        var line = TransferProgress.Format(5 * 1024 * 1024, 10 * 1024 * 1024, 2 * 1024 * 1024);

        Assert.Equal("[##########..........]  50%  5.0 MiB / 10.0 MiB  2.0 MiB/s", line);
    }

    [Fact]
    public void Format_WithoutTotal_ShowsBytesAndRate()
    {
        Assert.Equal("2.0 KiB  512 B/s", TransferProgress.Format(2048, null, 512));
    }

    [Fact]
    public void Dispose_AfterDrawing_ErasesTheLine()
    {
        var writer = new StringWriter();
        using (var progress = new TransferProgress(writer, 100))
        {
            progress.Report(50);
        }

        var text = writer.ToString();
        Assert.Contains("50%", text);
        Assert.EndsWith("\r", text);
        var lastLine = text.TrimEnd('\r')[(text.TrimEnd('\r').LastIndexOf('\r') + 1)..];
        Assert.True(lastLine.Trim().Length == 0);
    }

    [Fact]
    public void Report_ManyTimesWithinInterval_RedrawsOnce()
    {
        var writer = new StringWriter();
        var time = new ManualTime();
        var progress = new TransferProgress(writer, 1000, time);
        for (var i = 1; i <= 1000; i++)
        {
            progress.Report(i);
        }

        Assert.Equal(1, writer.ToString().Count(c => c == '\r'));
    }

    [Fact]
    public void Report_AfterInterval_RedrawsAgain()
    {
        var writer = new StringWriter();
        var time = new ManualTime();
        var progress = new TransferProgress(writer, 1000, time);

        progress.Report(1);
        time.Advance(TimeSpan.FromMilliseconds(50));
        progress.Report(2);
        time.Advance(TimeSpan.FromMilliseconds(60));
        progress.Report(3);

        Assert.Equal(2, writer.ToString().Count(c => c == '\r'));
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    [Fact]
    public async Task CountingStream_ReportsRunningTotal()
    {
        var reports = new List<long>();
        var inner = new MemoryStream();
        var stream = new CountingStream(inner, reports.Add);

        await stream.WriteAsync(new byte[10]);
        stream.Write(new byte[5], 0, 5);

        Assert.Equal([10L, 15L], reports);
        Assert.Equal(15, inner.Length);
    }
}
