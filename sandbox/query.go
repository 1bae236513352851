package sandbox

import (
	"net/http"
	"strconv"

	"aipaint-mcp/client"
)

type queryData struct {
	Status     int        `json:"status"`
	CreateTime string     `json:"createTime"`
	Img        string     `json:"img"`
	ImgURLs    []imageURL `json:"imgUrls"`
}

type imageURL struct {
	Image string `json:"image"`
}

func (s *Sandbox) query(w http.ResponseWriter, r *http.Request, p params) {
	id := p["taskId"]
	if id == "" {
		s.paramError(w, "taskId不能为空")
		return
	}
	t, ok := s.tasks.get(id)
	if !ok {
		s.WriteBusiness(w, http.StatusOK, 201, "", nil)
		return
	}
	s.WriteBusiness(w, http.StatusOK, 200, "", s.queryData(t, "http://"+r.Host))
}

func (s *Sandbox) queryData(t *task, base string) queryData {
	d := queryData{
		CreateTime: t.created.In(client.ChinaTime).Format(client.CreateTimeLayout),
		ImgURLs:    []imageURL{},
	}
	if !t.done(s.now()) {
		return d
	}
	d.Status = 1
	for n := 1; n <= t.num; n++ {
		d.ImgURLs = append(d.ImgURLs, imageURL{Image: imageURLFor(base, t.id, n)})
	}
	d.Img = d.ImgURLs[0].Image
	return d
}

func imageURLFor(base, taskID string, n int) string {
	return base + imagePrefix + taskID + "/" + strconv.Itoa(n) + ".png"
}
