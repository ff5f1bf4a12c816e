using System.Buffers.Binary;
using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer.Tests.Session;

/// <summary>What a durable open asks the server for: the DH2Q Timeout is the client's setting, or 0 (the server's default).</summary>
public sealed class OpenDurabilityTests
{
    private static uint Dh2qTimeout(TimeSpan? timeout)
    {
        var request = OpenDurability.For(SmbDialect.Smb311, HandleDurability.Durable, timeout).Apply(new CreateRequest("f.bin"));
        var dh2q = Assert.Single(request.CreateContexts, c => c.Name == "DH2Q");
        return BinaryPrimitives.ReadUInt32LittleEndian(dh2q.Data); // Timeout(4) Flags(4) Reserved(8) CreateGuid(16)
    }

    [Fact]
    public void DurableHandleTimeout_IsTheDh2qTimeout_InWholeMilliseconds()
    {
        Assert.Equal(0u, Dh2qTimeout(null));
        Assert.Equal(12_500u, Dh2qTimeout(TimeSpan.FromSeconds(12.5)));
        Assert.Equal(2u, Dh2qTimeout(TimeSpan.FromMilliseconds(1.5))); // rounded up: never shorter than asked
    }

    [Fact]
    public void DurableHandleTimeout_OutOfRange_Refused()
    {
        var options = new SmbClientOptions();
        Assert.Throws<ArgumentOutOfRangeException>(() => options.DurableHandleTimeout = TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.DurableHandleTimeout = TimeSpan.FromMilliseconds(uint.MaxValue + 1.0));
        options.DurableHandleTimeout = TimeSpan.FromSeconds(30);
        Assert.Equal(TimeSpan.FromSeconds(30), options.DurableHandleTimeout);
    }
}
